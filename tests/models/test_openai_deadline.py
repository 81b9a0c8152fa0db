"""Model calls end within their deadline and fail loudly: real misbehaving servers on 127.0.0.1 (raw sockets).

Each server is one of: hangs before the headers, drips headers, drips a keep-alive comment forever, answers HTML or
other text with 200, sends an empty stream, closes mid-stream, or answers correctly. Deadlines are 1.5 s; an
elapsed time must stay under the deadline plus a margin for a loaded 2-core machine.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.fakes.httpserver import (
    HTML,
    RawServer,
    answer,
    delta,
    drip,
    hang,
    head,
    headers_forever,
    ping_forever,
    sse_event,
)
from tests.video.clips import random_frames
from vifailback_demo.errors import BackendError, BackendTimeoutError
from vifailback_demo.models.backend import DeadlineBackend, GenerationResult, default_deadline_s
from vifailback_demo.models.openai_backend import OpenAICompatibleBackend, OpenAIOptions
from vifailback_demo.models.openai_http import ChatClient

DEADLINE = 1.5
#: Scheduling slack on a loaded machine (the deadline itself is enforced by a timer closing the socket).
MARGIN = 1.0
MESSAGES = [{"role": "user", "content": "q"}]


def _client(url: str, **kw) -> ChatClient:
    return ChatClient(url, "m", **{"timeout_s": 30.0, "retries": 2, "backoff_s": 0.05, "deadline_s": DEADLINE, **kw})


def _timed(call):
    start = time.perf_counter()
    try:
        call()
    except BackendError as exc:
        return exc, time.perf_counter() - start
    raise AssertionError("expected a BackendError")


def test_default_deadline_fits_a_2048_token_answer_at_10_tokens_per_second() -> None:
    assert default_deadline_s(2048) == pytest.approx(264.8) and default_deadline_s(2048) > 2048 / 10 + 30
    client = ChatClient("http://127.0.0.1:1/v1", "m")  # timeout 120 s
    assert client.deadline_for(2048) == pytest.approx(264.8) and client.deadline_for(16) == 120.0
    assert ChatClient("http://127.0.0.1:1/v1", "m", deadline_s=7).deadline_for(2048) == 7
    with pytest.raises(BackendError, match=r"request deadline: expected seconds > 0"):
        ChatClient("http://127.0.0.1:1/v1", "m", deadline_s=0)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("script", [hang, ping_forever, headers_forever], ids=["hang", "ping", "header-drip"])
def test_a_stuck_server_is_cut_off_at_the_deadline(script, stream: bool) -> None:
    pieces: list[str] = []
    with RawServer(script) as server:
        client = _client(server.url)
        exc, elapsed = _timed(lambda: client.chat(MESSAGES, on_text=pieces.append if stream else None))
    assert isinstance(exc, BackendTimeoutError), exc
    assert f"no complete answer within the {DEADLINE:g} s deadline (1 attempt(s))" in str(exc)
    assert DEADLINE - 0.05 <= elapsed < DEADLINE + MARGIN, elapsed
    assert pieces == [] and len(server.requests) == 1


def test_retries_share_the_deadline() -> None:
    """Socket timeouts of 0.4 s and 9 retries would take over 4 s; the deadline ends it all at 1.5 s."""
    with RawServer(hang, max_connections=12) as server:
        exc, elapsed = _timed(lambda: _client(server.url, timeout_s=0.4, retries=9).chat(MESSAGES))
    assert isinstance(exc, BackendTimeoutError) and elapsed < DEADLINE + MARGIN, (exc, elapsed)
    assert 2 <= len(server.requests) <= 4


def test_backoff_never_sleeps_past_the_deadline() -> None:
    def unavailable(conn: socket.socket, body: dict, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy")

    with RawServer(unavailable) as server:
        exc, elapsed = _timed(lambda: _client(server.url, retries=6, backoff_s=0.4).chat(MESSAGES))
    # tries at 0, 0.4 and 1.2 s; the next backoff (1.6 s) would end past the deadline, so it stops at once
    assert "failed after 3 attempt(s): HTTP 503" in str(exc) and elapsed < DEADLINE, (exc, elapsed)


@pytest.mark.parametrize(
    ("script", "seen"),
    [
        (answer(HTML, content_type="text/html"), "got '<!DOCTYPE html>' (content-type text/html)"),
        (answer(b"upstream error\x1b[31m\x00 sorry\n", content_type="text/plain"),
         "got 'upstream error [31m sorry' (content-type text/plain)"),
        (answer(b"x" * 200 + b"\n", content_type="text/plain"), f"got '{'x' * 77}...' (content-type text/plain)"),
        (answer(b'{"object": "error", "message": "no"}\n', content_type="application/json"),
         "got JSON that is not a chat completion (content-type application/json"),
        (answer(b""), "got an empty body (content-type text/event-stream)"),
        (answer(b": ping\n\n: ping\n\n"), "got no data events (content-type text/event-stream, first bytes ': ping"),
    ],
    ids=["html", "text", "long-text", "json-error", "empty", "comments-only"],
)  # fmt: skip
def test_a_reply_that_is_not_an_event_stream_is_one_clear_line(script, seen: str) -> None:
    pieces: list[str] = []
    with RawServer(script) as server, pytest.raises(BackendError) as info:
        _client(server.url).chat(MESSAGES, on_text=pieces.append)
    message = str(info.value)
    assert f"{server.url}/chat/completions: expected server-sent events from /chat/completions, {seen}" in message
    assert "\n" not in message and "\x1b" not in message and len(message) < 400
    assert not isinstance(info.value, BackendTimeoutError) and pieces == [] and len(server.requests) == 1


def test_done_without_text_is_an_error_not_an_empty_answer() -> None:
    script = answer(sse_event({"choices": [{"delta": {"role": "assistant"}}]}), sse_event("[DONE]"))
    expected = r"the stream ended with no text \(2 event\(s\)\); expected an answer"
    with RawServer(script) as server, pytest.raises(BackendError, match=expected):
        _client(server.url).chat(MESSAGES, on_text=lambda piece: None)


def chunked_then_cut(conn: socket.socket, body: dict, stop: threading.Event) -> None:
    event = sse_event(delta("The robot"))
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
    conn.sendall(b'40\r\ndata: {"choi')  # a chunk of 64 bytes announced, 11 sent, then the connection closes


@pytest.mark.parametrize("script", [answer(sse_event(delta("The robot"))), chunked_then_cut], ids=["close", "chunked"])
def test_a_stream_closed_mid_way_is_a_cut_answer(script) -> None:
    pieces: list[str] = []
    with RawServer(script) as server, pytest.raises(BackendError) as info:
        _client(server.url).chat(MESSAGES, on_text=pieces.append)
    assert "the answer was cut: the stream closed after 9 characters without a finish_reason or data: [DONE]" in str(
        info.value
    )
    assert pieces == ["The robot"] and len(server.requests) == 1  # text was shown: never retried


def test_a_stream_cut_by_the_deadline_says_so() -> None:
    def slow_text(conn: socket.socket, body: dict, stop: threading.Event) -> None:
        conn.sendall(head())
        drip(conn, stop, sse_event(delta("a")), every_s=0.2)

    pieces: list[str] = []
    with RawServer(slow_text) as server:
        exc, elapsed = _timed(lambda: _client(server.url).chat(MESSAGES, on_text=pieces.append))
    assert isinstance(exc, BackendTimeoutError) and elapsed < DEADLINE + MARGIN
    assert f"(1 attempt(s); the answer was cut after {len(pieces)} characters)" in str(exc) and pieces


def test_an_error_event_mid_stream_is_reported() -> None:
    error = sse_event({"error": {"message": "engine died\nwith a traceback", "code": 500}})
    expected = r"the server failed mid-stream: engine died with a traceback$"
    with RawServer(answer(sse_event(delta("Step 1")), error)) as server, pytest.raises(BackendError, match=expected):
        _client(server.url).chat(MESSAGES, on_text=lambda piece: None)


ANSWER = ["<Think>", "The gripper ", "missed the block.", "</Think>"]


def test_happy_path_streams_through_keepalives_to_the_callback() -> None:
    events = [b": ping\n\n", b"event: message\nid: 1\n"] + [sse_event(delta(p)) for p in ANSWER]
    usage = sse_event({"choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": 12}})
    with RawServer(answer(*events, b": ping\n\n", usage, sse_event("[DONE]"))) as server:
        backend = OpenAICompatibleBackend(
            OpenAIOptions(base_url=server.url, model="ViFailback-8B", deadline_s=DEADLINE, backoff_s=0.05)
        )
        pieces: list[str] = []
        result = backend.generate(random_frames(2), "p", on_text=pieces.append)
    assert pieces == ANSWER and result.text == "".join(ANSWER)
    assert (result.prompt_tokens, result.new_tokens) == (900, 12) and "first_token" in result.timings
    assert server.requests[0]["stream"] is True


def test_finish_reason_without_done_is_a_complete_answer() -> None:
    with RawServer(answer(sse_event(delta("All ")), sse_event(delta("done.", finish="stop")))) as server:
        assert _client(server.url).chat(MESSAGES, on_text=lambda piece: None).text == "All done."


def test_a_plain_completion_where_events_were_asked_is_read() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "Whole answer."}}], "usage": {}}
    with RawServer(answer(json.dumps(body, indent=1).encode(), content_type="application/json")) as server:
        pieces: list[str] = []
        result = _client(server.url).chat(MESSAGES, on_text=pieces.append)
    assert result.text == "Whole answer." and pieces == ["Whole answer."]


class StuckBackend:
    name = "stuck"

    def __init__(self) -> None:
        self.release = threading.Event()

    def generate(self, frames, prompt, *, settings=None, on_text=None) -> GenerationResult:
        on_text("early ")
        self.release.wait(10)
        on_text("late")
        return GenerationResult(text="early late")


def test_deadline_backend_bounds_any_backend_and_drops_late_text() -> None:
    inner = StuckBackend()
    pieces: list[str] = []
    start = time.perf_counter()
    with pytest.raises(BackendTimeoutError, match=r"^stuck: no complete answer within 0.5 s \(hint\)$"):
        DeadlineBackend(inner, 0.5, hint=" (hint)").generate(random_frames(1), "p", on_text=pieces.append)
    assert time.perf_counter() - start < 0.5 + MARGIN
    inner.release.set()
    time.sleep(0.1)
    assert pieces == ["early "]
