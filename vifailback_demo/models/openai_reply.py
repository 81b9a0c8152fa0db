"""Reading a ``/chat/completions`` reply: a JSON chat completion, or server-sent events when streaming.

When events were asked for, the reply must be an event stream: ``data: {chunk}`` lines ending with
``data: [DONE]``, comments (``: ping``, keep-alives) skipped. A plain JSON chat completion is read too (some
servers ignore ``stream``). Anything else is a one-line :class:`~vifailback_demo.errors.BackendError` saying what
was expected and what was seen (content type, first bytes; sanitised and cut), never an empty answer:

* HTML or other text, or JSON that is not a chat completion;
* an empty body, or no ``data:`` event at all;
* events with no text (``[DONE]`` straight away): nothing to diagnose;
* a stream that closes after some text without ``[DONE]`` and without a ``finish_reason``: the answer was cut
  (a half diagnosis must not pass for a whole one). With a ``finish_reason`` the answer is complete and kept.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from vifailback_demo.errors import BackendError
from vifailback_demo.models.backend import GenerationResult, TextCallback
from vifailback_demo.models.http_deadline import Deadline, DeadlinePassed

#: Server error bodies are cut to this many characters in messages.
BODY_SNIPPET = 300
#: The first bytes of an unexpected reply shown in a message.
SEEN_SNIPPET = 80
#: A chat completion is a few KiB; a larger reply is refused rather than read into memory.
MAX_BODY_BYTES = 16 * 2**20
#: One event line (vLLM's are well under 1 KiB).
MAX_LINE_BYTES = 2**20
#: Server-sent event fields (WHATWG HTML, "server-sent events"); any other line means the reply is not a stream.
SSE_FIELDS = frozenset({"data", "event", "id", "retry"})


def one_line(data: bytes | str, limit: int) -> str:
    """Text safe for a one-line message: control characters and runs of blanks become one space, cut to ``limit``."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_body(response: Any, url: str) -> bytes:
    """The whole body, refused past :data:`MAX_BODY_BYTES` (read in pieces: no up-front buffer of that size)."""
    parts: list[bytes] = []
    size = 0
    while piece := response.read(2**16):
        size += len(piece)
        if size > MAX_BODY_BYTES:
            raise BackendError(f"{url}: reply larger than {MAX_BODY_BYTES // 2**20} MiB; expected a chat completion")
        parts.append(piece)
    return b"".join(parts)


def parse_completion(payload: bytes, url: str) -> GenerationResult:
    """A non-streamed chat completion: ``choices[0].message.content`` (text, or a list of text parts)."""
    try:
        data = json.loads(payload)
        content = data["choices"][0]["message"]["content"]
        usage = data.get("usage") or {}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError, AttributeError):
        raise BackendError(
            f"{url}: expected a chat completion with choices[0].message.content, got {one_line(payload, BODY_SNIPPET)!r}"
        ) from None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    if content is not None and not isinstance(content, str):
        raise BackendError(f"{url}: expected message content as text, got {type(content).__name__}")
    usage = usage if isinstance(usage, dict) else {}
    return GenerationResult(
        text=content or "", prompt_tokens=usage.get("prompt_tokens"), new_tokens=usage.get("completion_tokens")
    )


def _not_events(url: str, response: Any, seen: bytes, what: str) -> BackendError:
    kind = one_line(response.headers.get("Content-Type") or "none", 60)
    first = f", first bytes {one_line(seen, SEEN_SNIPPET)!r}" if seen.strip() else ""
    return BackendError(
        f"{url}: expected server-sent events from /chat/completions, got {what} (content-type {kind}{first})"
    )


def read_stream(response: Any, url: str, on_text: TextCallback, start: float, deadline: Deadline) -> GenerationResult:
    """The answer of an event stream, each text piece passed to ``on_text`` as it arrives (see the module doc).

    Raises :class:`DeadlinePassed` when the stream ended because the deadline shut the socket.
    """
    pieces: list[str] = []
    first = None
    usage: dict[str, Any] = {}
    seen = b""
    events = 0
    done = finished = False
    while True:
        try:
            raw = response.readline(MAX_LINE_BYTES + 1)
        except http.client.IncompleteRead:  # a chunked stream closed mid-way: judged as the end, below
            raw = b""
        if not raw:
            break
        if len(seen) < SEEN_SNIPPET:
            seen += raw[: SEEN_SNIPPET - len(seen)]
        if len(raw) > MAX_LINE_BYTES:
            raise _not_events(url, response, seen, f"a line longer than {MAX_LINE_BYTES // 2**20} MiB")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line or line.startswith(":"):  # the end of an event, or a comment (keep-alive)
            continue
        field, _, value = line.partition(":")
        if field not in SSE_FIELDS:
            if not events and line.lstrip().startswith("{"):  # a plain completion: the server ignored stream
                return _completion_as_stream(response, url, raw, seen, on_text, start, deadline)
            raise _not_events(url, response, b"", repr(one_line(raw, SEEN_SNIPPET)))  # the line says it all
        if field != "data":
            continue
        events += 1
        data = value.strip()
        if data == "[DONE]":
            done = True
            break
        for piece, reason in _chunk(data, url, usage):
            finished = finished or bool(reason)
            if piece:
                first = first if first is not None else time.perf_counter() - start
                pieces.append(piece)
                on_text(piece)
    if deadline.over() and not (done or finished):
        raise DeadlinePassed
    text = "".join(pieces)
    if not events:
        raise _not_events(url, response, seen, "an empty body" if not seen else "no data events")
    if not text:
        raise BackendError(f"{url}: the stream ended with no text ({events} event(s)); expected an answer")
    if not done and not finished:
        raise BackendError(
            f"{url}: the answer was cut: the stream closed after {len(text)} characters without a finish_reason "
            "or data: [DONE]"
        )
    return GenerationResult(
        text=text,
        prompt_tokens=usage.get("prompt_tokens"),
        new_tokens=usage.get("completion_tokens"),
        timings={"first_token": first} if first is not None else {},
    )


def _chunk(data: str, url: str, usage: dict[str, Any]) -> list[tuple[str | None, Any]]:
    """``(text piece, finish_reason)`` per choice of one event; ``usage`` is updated in place."""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise BackendError(f"{url}: unreadable stream event {one_line(data, 80)!r}") from None
    if not isinstance(chunk, dict):
        raise BackendError(f"{url}: expected a JSON object per stream event, got {one_line(data, 80)!r}")
    if chunk.get("error"):  # vLLM reports a failure during generation as an event
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise BackendError(f"{url}: the server failed mid-stream: {one_line(str(message), BODY_SNIPPET)}")
    if isinstance(chunk.get("usage"), dict):
        usage.update(chunk["usage"])
    out: list[tuple[str | None, Any]] = []
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        if isinstance(choice, dict):
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            piece = delta.get("content")
            out.append((piece if isinstance(piece, str) else None, choice.get("finish_reason")))
    return out


def _completion_as_stream(
    response: Any, url: str, head: bytes, seen: bytes, on_text: TextCallback, start: float, deadline: Deadline
) -> GenerationResult:
    """A whole chat completion where events were asked for: read it, pass its text on as one piece."""
    payload = head + read_body(response, url)
    try:
        result = parse_completion(payload, url)
    except BackendError:
        if deadline.over():  # the deadline cut the body short
            raise DeadlinePassed from None
        raise _not_events(url, response, seen, "JSON that is not a chat completion") from None
    if not result.text:
        raise BackendError(f"{url}: the reply held no text (a chat completion with empty content)")
    result.timings = {"first_token": time.perf_counter() - start}
    on_text(result.text)
    return result
