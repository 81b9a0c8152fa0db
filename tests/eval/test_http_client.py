"""The served model (the library's backend) and the judge use the library's one OpenAI-compatible client."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from eval.backends import build_backend
from eval.judge import LLMJudge
from tests.fakes.httpserver import fake_openai_server
from vifailback_demo.errors import BackendError, PermanentBackendError
from vifailback_demo.models.openai_backend import OpenAICompatibleBackend, OpenAIOptions
from vifailback_demo.models.openai_http import ChatClient, chat_url

IMAGE = np.zeros((8, 8, 3), np.uint8)


def served_args(url: str, **kw: object) -> argparse.Namespace:
    args = {
        "backend": "openai",
        "base_url": url,
        "model": None,
        "served_model": "served",
        "api_key_env": "EVAL_TEST_SERVED_KEY",
        "request_timeout": 5.0,
        "retries": 2,
        "max_new_tokens": 64,
        **kw,
    }
    return argparse.Namespace(**args)


def test_eval_and_library_share_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVAL_TEST_SERVED_KEY", "sk-served-secret")
    served = build_backend(served_args("http://127.0.0.1:1/v1"), [])
    assert isinstance(served, OpenAICompatibleBackend) and type(served.client) is ChatClient
    assert served.options.api_key_env == "EVAL_TEST_SERVED_KEY" and served.options.backoff_s == 0.5
    backend = OpenAICompatibleBackend(OpenAIOptions(base_url="http://127.0.0.1:1/v1", model="m"))
    assert type(backend.client) is ChatClient
    assert LLMJudge.__init__.__annotations__["client"] in (ChatClient, "ChatClient")
    assert "sk-served-secret" not in repr(served.client) + repr(served) + repr(served.options)


def test_chat_url_validation_and_full_endpoint() -> None:
    assert chat_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"
    assert chat_url("https://h/v1/chat/completions") == "https://h/v1/chat/completions"
    with pytest.raises(BackendError, match=r"expected http://host:port/v1, got 'localhost:8000'"):
        chat_url("localhost:8000")


def test_bad_request_is_raised_once_without_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVAL_TEST_SERVED_KEY", "sk-served-secret")
    bad = json.dumps({"error": {"message": "image too large"}}).encode()
    with fake_openai_server(lambda req, n: (400, bad)) as server:
        served = build_backend(served_args(server.url, retries=3), [])
        with pytest.raises(PermanentBackendError, match=r"HTTP 400.*image too large") as info:
            served.generate([IMAGE], "p")
    assert len(server.requests) == 1
    assert "sk-served-secret" not in str(info.value)
    assert server.headers[0]["Authorization"] == "Bearer sk-served-secret"


def test_unauthorised_names_the_key_variable_not_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVAL_TEST_SERVED_KEY", "sk-wrong")
    with fake_openai_server(lambda req, n: (401, b"bad key")) as server:
        served = build_backend(served_args(server.url), [])
        with pytest.raises(PermanentBackendError, match=r"\$EVAL_TEST_SERVED_KEY") as info:
            served.generate([IMAGE], "p")
    assert "sk-wrong" not in str(info.value) and len(server.requests) == 1


def test_content_parts_are_joined() -> None:
    body = {"choices": [{"message": {"content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]}}]}
    with fake_openai_server(lambda req, n: (200, json.dumps(body).encode())) as server:
        assert ChatClient(server.url, "m", timeout_s=5).chat([{"role": "user", "content": "q"}]).text == "AB"
