"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 started by the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.fakes.httpserver import BehaviourServer
from tests.video.clips import random_frames
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.errors import BackendError, BackendTimeoutError, PermanentBackendError
from vifailback_demo.models.openai_backend import OpenAICompatibleBackend, OpenAIOptions
from vifailback_demo.models.openai_http import ChatClient
from vifailback_demo.models.scripted import demo_answer

ANSWER = demo_answer(3)


@pytest.fixture
def server() -> Iterator[BehaviourServer]:
    with BehaviourServer(ANSWER) as s:
        yield s


def _backend(server: BehaviourServer, **kw) -> OpenAICompatibleBackend:
    opts = {
        "base_url": server.url,
        "model": "ViFailback-8B",
        "timeout_s": 5.0,
        "max_retries": 2,
        "backoff_s": 0.05,
        **kw,
    }
    return OpenAICompatibleBackend(OpenAIOptions(**opts))


def test_request_has_one_image_per_frame_text_last_and_answer_parses(server: BehaviourServer, monkeypatch) -> None:
    monkeypatch.setenv("VIFAILBACK_API_KEY", "sk-test-secret")
    result = _backend(server).generate(random_frames(3), "the prompt")
    body = server.requests[0]
    content = body["messages"][0]["content"]
    assert [c["type"] for c in content] == ["image_url"] * 3 + ["text"]
    assert content[-1]["text"] == "the prompt"
    assert body["model"] == "ViFailback-8B" and body["temperature"] == 0.0 and body["max_tokens"] == 2048
    assert server.problems == []
    assert server.headers[0]["Authorization"] == "Bearer sk-test-secret"
    assert result.text == ANSWER and result.new_tokens == 200
    assert parse_answer(result.text).keyframe == 2


def test_streaming_over_server_sent_events(server: BehaviourServer) -> None:
    pieces: list[str] = []
    result = _backend(server).generate(random_frames(2), "p", on_text=pieces.append)
    assert server.requests[0]["stream"] is True
    assert len(pieces) > 3 and "".join(pieces) == result.text == ANSWER


def test_slow_server_hits_the_timeout_with_bounded_retries(server: BehaviourServer) -> None:
    server.behaviour = "slow"
    backend = _backend(server, timeout_s=0.3, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(BackendTimeoutError, match=r"no answer within 0.3 s after 2 attempt"):
        backend.generate(random_frames(1), "p")
    assert time.perf_counter() - start < 3.0
    assert server.count(2) == 2


def test_server_error_is_clear_and_retries_are_bounded(server: BehaviourServer, monkeypatch) -> None:
    monkeypatch.setenv("VIFAILBACK_API_KEY", "sk-never-shown")
    server.behaviour = "error500"
    with pytest.raises(BackendError, match=r"HTTP 500.*engine exploded") as info:
        _backend(server, max_retries=2).generate(random_frames(1), "p")
    assert server.count(3) == 3  # 1 try + 2 retries, then stop
    assert "sk-never-shown" not in str(info.value)


def test_client_error_is_not_retried(server: BehaviourServer) -> None:
    server.behaviour = "error400"
    with pytest.raises(PermanentBackendError, match=r"HTTP 400.*bad model"):
        _backend(server).generate(random_frames(1), "p")
    assert len(server.requests) == 1


def test_stream_is_not_retried_once_text_was_relayed(server: BehaviourServer) -> None:
    server.behaviour = "stall"
    pieces: list[str] = []
    # 1 s of silence after the first piece: long enough that a loaded machine still relays "half" first.
    with pytest.raises(BackendTimeoutError, match=r"no answer within 1 s after 1 attempt\(s\)"):
        _backend(server, timeout_s=1.0, max_retries=2).generate(random_frames(1), "p", on_text=pieces.append)
    assert pieces == ["half"] and len(server.requests) == 1


def test_uses_the_shared_client_which_hides_the_key(server: BehaviourServer, monkeypatch) -> None:
    monkeypatch.setenv("VIFAILBACK_API_KEY", "sk-hidden-key")
    server.behaviour = "parts"
    backend = _backend(server, base_url=server.url + "/chat/completions/")  # a full endpoint URL is kept
    assert isinstance(backend.client, ChatClient) and backend.url == server.url + "/chat/completions"
    assert "sk-hidden-key" not in repr(backend.client) + repr(backend)
    assert backend.generate(random_frames(1), "p").text == ANSWER  # content parts are joined
    assert server.headers[0]["Authorization"] == "Bearer sk-hidden-key"


def test_transient_errors_recover_after_backoff(server: BehaviourServer) -> None:
    server.behaviour = "flaky"
    assert _backend(server, max_retries=3).generate(random_frames(1), "p").text == ANSWER
    assert len(server.requests) == 3


def test_concurrency_is_capped(server: BehaviourServer) -> None:
    server.behaviour = "slow"
    backend = _backend(server, max_concurrency=2, timeout_s=5.0)
    threads = [threading.Thread(target=backend.generate, args=(random_frames(1), "p")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(server.requests) == 4 and server.max_in_flight == 2


def test_unreachable_server_and_bad_options() -> None:
    backend = OpenAICompatibleBackend(
        OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=1.0, max_retries=1, backoff_s=0.01)
    )
    with pytest.raises(BackendError, match=r"failed after 2 attempt.*cannot connect"):
        backend.generate(random_frames(1), "p")
    with pytest.raises(ValueError, match="base URL"):
        OpenAIOptions(base_url="localhost:8000", model="m")
