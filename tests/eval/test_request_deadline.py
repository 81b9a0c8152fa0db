"""The evaluation's served model: ``--request-deadline`` bounds each request (retries included) on the wall clock."""

from __future__ import annotations

import time

import numpy as np
import pytest

from eval.backends import build_backend
from eval.cli import build_parser
from tests.eval.test_http_client import served_args
from tests.fakes.httpserver import RawServer, ping_forever
from vifailback_demo.errors import BackendError, BackendTimeoutError


def test_the_flag_reaches_the_client() -> None:
    argv = ["run", "--bench", "b.json", "--out", "o", "--base-url", "http://127.0.0.1:1/v1"]
    assert build_parser().parse_args(argv).request_deadline is None
    args = build_parser().parse_args([*argv, "--request-deadline", "2.5"])
    assert args.request_deadline == 2.5
    assert build_backend(served_args("http://127.0.0.1:1/v1", request_deadline=2.5), []).client.deadline_s == 2.5
    with pytest.raises(BackendError, match=r"request deadline: expected seconds > 0, got -1"):
        build_backend(served_args("http://127.0.0.1:1/v1", request_deadline=-1.0), [])


def test_a_keepalive_dripping_server_is_cut_off() -> None:
    with RawServer(ping_forever) as server:
        served = build_backend(served_args(server.url, request_deadline=1.0), [])  # request timeout 5 s
        start = time.perf_counter()
        with pytest.raises(BackendTimeoutError, match=r"within the 1 s deadline \(1 attempt\(s\)\)"):
            served.generate([np.zeros((8, 8, 3), np.uint8)], "p")
    assert time.perf_counter() - start < 1.0 + 1.0
