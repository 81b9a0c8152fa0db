"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 started by the test."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.engine.conftest import random_frames
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.errors import BackendError, BackendTimeoutError, PermanentBackendError
from vifailback_demo.imageio import decode_image_rgb
from vifailback_demo.models.openai_backend import OpenAICompatibleBackend, OpenAIOptions
from vifailback_demo.models.openai_http import ChatClient
from vifailback_demo.models.scripted import demo_answer

ANSWER = demo_answer(3)


class FakeServer:
    """Answers /v1/chat/completions; ``behaviour`` is "ok", "slow", "error500", "error400", "flaky",
    "parts" (content as a list of parts) or "stall" (streams one piece, then stalls)."""

    def __init__(self) -> None:
        self.behaviour = "ok"
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.problems: list[str] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                with server.lock:
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                try:
                    server.handle(self)
                finally:
                    with server.lock:
                        server.active -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, expected: int, within_s: float = 5.0) -> int:
        """Requests recorded, once ``expected`` have arrived or ``within_s`` passed. A client that timed out has
        sent its request, but a loaded machine may not yet have run the handler that records it."""
        deadline = time.monotonic() + within_s
        while len(self.requests) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.requests)

    def check_request(self, body: dict) -> None:
        content = body["messages"][0]["content"]
        images = [c for c in content if c["type"] == "image_url"]
        if content[-1]["type"] != "text" or any(c["type"] == "text" for c in content[:-1]):
            self.problems.append("text block is not last")
        for block in images:
            url = block["image_url"]["url"]
            if not url.startswith("data:image/jpeg;base64,"):
                self.problems.append("image is not a JPEG data URL")
                continue
            image = decode_image_rgb(base64.b64decode(url.split(",", 1)[1]))
            if image.ndim != 3:
                self.problems.append("image not decodable")

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        self.requests.append(body)
        self.headers.append(dict(h.headers))
        self.check_request(body)
        mode = self.behaviour
        if mode == "flaky" and len(self.requests) < 3:
            mode = "error500"
        if mode == "slow":
            time.sleep(1.5)
        if mode in ("error500", "error400"):
            code = 500 if mode == "error500" else 400
            payload = json.dumps({"error": {"message": "engine exploded" if code == 500 else "bad model"}}).encode()
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        if mode == "stall" and body.get("stream"):
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            h.wfile.write(f"data: {json.dumps({'choices': [{'delta': {'content': 'half'}}]})}\n\n".encode())
            h.wfile.flush()
            time.sleep(3.0)
            return
        if body.get("stream"):
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            for i in range(0, len(ANSWER), 40):
                chunk = {"choices": [{"delta": {"content": ANSWER[i : i + 40]}}]}
                h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                h.wfile.flush()
            h.wfile.write(b"data: [DONE]\n\n")
            return
        content = [{"type": "text", "text": ANSWER[:10]}, {"type": "text", "text": ANSWER[10:]}]
        payload = json.dumps(
            {
                "choices": [{"message": {"role": "assistant", "content": content if mode == "parts" else ANSWER}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 200},
            }
        ).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.close()


def _backend(server: FakeServer, **kw) -> OpenAICompatibleBackend:
    opts = {
        "base_url": server.url,
        "model": "ViFailback-8B",
        "timeout_s": 5.0,
        "max_retries": 2,
        "backoff_s": 0.05,
        **kw,
    }
    return OpenAICompatibleBackend(OpenAIOptions(**opts))


def test_request_has_one_image_per_frame_text_last_and_answer_parses(server: FakeServer, monkeypatch) -> None:
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


def test_streaming_over_server_sent_events(server: FakeServer) -> None:
    pieces: list[str] = []
    result = _backend(server).generate(random_frames(2), "p", on_text=pieces.append)
    assert server.requests[0]["stream"] is True
    assert len(pieces) > 3 and "".join(pieces) == result.text == ANSWER


def test_slow_server_hits_the_timeout_with_bounded_retries(server: FakeServer) -> None:
    server.behaviour = "slow"
    backend = _backend(server, timeout_s=0.3, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(BackendTimeoutError, match=r"no answer within 0.3 s after 2 attempt"):
        backend.generate(random_frames(1), "p")
    assert time.perf_counter() - start < 3.0
    assert server.count(2) == 2


def test_server_error_is_clear_and_retries_are_bounded(server: FakeServer, monkeypatch) -> None:
    monkeypatch.setenv("VIFAILBACK_API_KEY", "sk-never-shown")
    server.behaviour = "error500"
    with pytest.raises(BackendError, match=r"HTTP 500.*engine exploded") as info:
        _backend(server, max_retries=2).generate(random_frames(1), "p")
    assert server.count(3) == 3  # 1 try + 2 retries, then stop
    assert "sk-never-shown" not in str(info.value)


def test_client_error_is_not_retried(server: FakeServer) -> None:
    server.behaviour = "error400"
    with pytest.raises(PermanentBackendError, match=r"HTTP 400.*bad model"):
        _backend(server).generate(random_frames(1), "p")
    assert len(server.requests) == 1


def test_stream_is_not_retried_once_text_was_relayed(server: FakeServer) -> None:
    server.behaviour = "stall"
    pieces: list[str] = []
    # 1 s of silence after the first piece: long enough that a loaded machine still relays "half" first.
    with pytest.raises(BackendTimeoutError, match=r"no answer within 1 s after 1 attempt\(s\)"):
        _backend(server, timeout_s=1.0, max_retries=2).generate(random_frames(1), "p", on_text=pieces.append)
    assert pieces == ["half"] and len(server.requests) == 1


def test_uses_the_shared_client_which_hides_the_key(server: FakeServer, monkeypatch) -> None:
    monkeypatch.setenv("VIFAILBACK_API_KEY", "sk-hidden-key")
    server.behaviour = "parts"
    backend = _backend(server, base_url=server.url + "/chat/completions/")  # a full endpoint URL is kept
    assert isinstance(backend.client, ChatClient) and backend.url == server.url + "/chat/completions"
    assert "sk-hidden-key" not in repr(backend.client) + repr(backend)
    assert backend.generate(random_frames(1), "p").text == ANSWER  # content parts are joined
    assert server.headers[0]["Authorization"] == "Bearer sk-hidden-key"


def test_transient_errors_recover_after_backoff(server: FakeServer) -> None:
    server.behaviour = "flaky"
    assert _backend(server, max_retries=3).generate(random_frames(1), "p").text == ANSWER
    assert len(server.requests) == 3


def test_concurrency_is_capped(server: FakeServer) -> None:
    server.behaviour = "slow"
    backend = _backend(server, max_concurrency=2, timeout_s=5.0)
    threads = [threading.Thread(target=backend.generate, args=(random_frames(1), "p")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(server.requests) == 4 and server.max_active == 2


def test_unreachable_server_and_bad_options() -> None:
    backend = OpenAICompatibleBackend(
        OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=1.0, max_retries=1, backoff_s=0.01)
    )
    with pytest.raises(BackendError, match=r"failed after 2 attempt.*cannot connect"):
        backend.generate(random_frames(1), "p")
    with pytest.raises(ValueError, match="base URL"):
        OpenAIOptions(base_url="localhost:8000", model="m")
