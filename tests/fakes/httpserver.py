"""The test suite's fake HTTP servers, all on 127.0.0.1 in threads, all closed by the test that starts them.

* :func:`fake_openai_server`: a well-formed ``/v1/chat/completions`` whose ``respond(request_json, n)`` returns
  ``(status, body)`` for the n-th request (0-based); ``body`` is a str (sent as the message content of a chat
  completion when status is 200) or bytes (sent as is).
* :class:`BehaviourServer`: the diagnosis endpoint the OpenAI-compatible backend talks to; ``behaviour`` picks a
  well-formed answer (JSON, streamed, content in parts) or a failure (slow, 500, 400, flaky, a stalled stream),
  and every request is checked for the shape the backend must send.
* :class:`RawServer`: a raw-socket server that misbehaves on purpose; each connection runs a script that writes
  bytes exactly as a broken or hostile server would: nothing at all, a keep-alive comment forever, HTML, a stream
  cut mid-way.

The two well-formed servers (:class:`HTTPFake`) record every request body and header set, and the largest number
of requests they had in flight at once. The raw one is bounded everywhere: at most ``max_connections``
connections, every socket with a timeout, every script loop bounded in count and time, and
:meth:`RawServer.close` (or leaving the ``with`` block) stops the scripts and joins the threads.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# --- well-formed servers (http.server) ----------------------------------------------------------------------

#: ``handle(server, handler, body, n)``: answer the n-th request (0-based; its JSON body already read).
Handle = Callable[["HTTPFake", BaseHTTPRequestHandler, dict[str, Any], int], None]

Responder = Callable[[dict[str, Any], int], tuple[int, "str | bytes"]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 would drop simultaneous connects into SYN retries


class HTTPFake:
    """A ThreadingHTTPServer on 127.0.0.1 that answers every POST with ``handle`` (``url`` ends in ``/v1``)."""

    def __init__(self, handle: Handle) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    n = len(fake.requests)
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    handle(fake, self, body, n)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def __enter__(self) -> HTTPFake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, expected: int, within_s: float = 5.0) -> int:
        """Requests recorded, once ``expected`` have arrived or ``within_s`` passed. A client that timed out has
        sent its request, but a loaded machine may not yet have run the handler that records it."""
        deadline = time.monotonic() + within_s
        while len(self.requests) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def send(h: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str = "application/json") -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(payload)))
    h.end_headers()
    h.wfile.write(payload)


def completion(text: str) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}).encode()


def prompt_of(request: dict[str, Any]) -> str:
    """The text part of the last user message."""
    content = request["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


@contextmanager
def fake_openai_server(respond: Responder, *, delay_s: float = 0.0) -> Iterator[HTTPFake]:
    def handle(fake: HTTPFake, h: BaseHTTPRequestHandler, body: dict[str, Any], n: int) -> None:
        if delay_s:
            time.sleep(delay_s)
        status, payload = respond(body, n)
        data = completion(payload) if isinstance(payload, str) and status == 200 else payload
        send(h, status, data.encode() if isinstance(data, str) else data)

    with HTTPFake(handle) as server:
        yield server


class BehaviourServer(HTTPFake):
    """The diagnosis endpoint: answers ``answer`` as ``behaviour`` says: "ok", "slow" (1.5 s), "error500",
    "error400", "flaky" (two 500s, then ok), "parts" (content as a list of parts) or "stall" (streams one piece,
    then stalls). A request that is not one text block after one JPEG data URL per frame lands in ``problems``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.behaviour = "ok"
        self.problems: list[str] = []
        super().__init__(lambda _fake, h, body, _n: self._handle(h, body))

    def check_request(self, body: dict) -> None:
        from vifailback_demo.imageio import decode_image_rgb

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

    def _handle(self, h: BaseHTTPRequestHandler, body: dict) -> None:
        self.check_request(body)
        mode, answer = self.behaviour, self.answer
        if mode == "flaky" and len(self.requests) < 3:
            mode = "error500"
        if mode == "slow":
            time.sleep(1.5)
        if mode in ("error500", "error400"):
            code = 500 if mode == "error500" else 400
            send(
                h, code, json.dumps({"error": {"message": "engine exploded" if code == 500 else "bad model"}}).encode()
            )
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
            for i in range(0, len(answer), 40):
                chunk = {"choices": [{"delta": {"content": answer[i : i + 40]}}]}
                h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                h.wfile.flush()
            h.wfile.write(b"data: [DONE]\n\n")
            return
        parts = [{"type": "text", "text": answer[:10]}, {"type": "text", "text": answer[10:]}]
        payload = {
            "choices": [{"message": {"role": "assistant", "content": parts if mode == "parts" else answer}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 200},
        }
        send(h, 200, json.dumps(payload).encode())


# --- misbehaving server (raw sockets) -----------------------------------------------------------------------

#: ``script(conn, request_body, stop)``: write the reply on ``conn``; return early when ``stop`` is set.
Script = Callable[[socket.socket, dict[str, Any], threading.Event], None]

#: No script runs longer than this (and no test waits that long: deadlines are 1-2 s).
SCRIPT_LIMIT_S = 20.0


def sse_event(chunk: dict[str, Any] | str) -> bytes:
    data = chunk if isinstance(chunk, str) else json.dumps(chunk)
    return f"data: {data}\n\n".encode()


def delta(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def head(content_type: str = "text/event-stream", extra: str = "") -> bytes:
    """A status line and headers for a reply whose end is the connection closing (no length, not chunked)."""
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n{extra}\r\n".encode()


def wait(stop: threading.Event, seconds: float = SCRIPT_LIMIT_S) -> None:
    stop.wait(seconds)


def drip(conn: socket.socket, stop: threading.Event, line: bytes, every_s: float = 0.2) -> None:
    """Send ``line`` every ``every_s`` until stopped, the client goes away, or :data:`SCRIPT_LIMIT_S` passes."""
    for _ in range(int(SCRIPT_LIMIT_S / every_s)):
        if stop.wait(every_s):
            return
        conn.sendall(line)


def hang(conn: socket.socket, body: dict, stop: threading.Event) -> None:
    wait(stop)  # read the request, answer nothing


def ping_forever(conn: socket.socket, body: dict, stop: threading.Event) -> None:
    conn.sendall(head() + b": ping\n\n")
    drip(conn, stop, b": ping\n\n")


def headers_forever(conn: socket.socket, body: dict, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    drip(conn, stop, b"X-Padding: 1\r\n")


def answer(*chunks: bytes, content_type: str = "text/event-stream"):
    def script(conn: socket.socket, body: dict, stop: threading.Event) -> None:
        conn.sendall(head(content_type) + b"".join(chunks))

    return script


HTML = b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body>It works</body></html>\n"


class RawServer:
    def __init__(self, script: Script, *, max_connections: int = 8) -> None:
        self.script = script
        self.max_connections = max_connections
        self.requests: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.open_connections = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        accept = threading.Thread(target=self._serve, name="rawserver-accept", daemon=True)
        self._threads.append(accept)
        accept.start()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        end = time.monotonic() + SCRIPT_LIMIT_S * 2
        handled = 0
        while not self.stop.is_set() and handled < self.max_connections and time.monotonic() < end:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            handled += 1
            worker = threading.Thread(target=self._handle, args=(conn,), name="rawserver-conn", daemon=True)
            self._threads.append(worker)
            worker.start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        with self._lock:
            self.open_connections += 1
        try:
            with conn:
                body = _read_request(conn)
                self.requests.append(body)
                self.script(conn, body, self.stop)
        except OSError:
            pass  # the client went away (the point of most scripts)
        finally:
            with self._lock:
                self.open_connections -= 1

    def idle(self, within_s: float = 5.0) -> bool:
        """True once no script runs (its client went away), waiting up to ``within_s``."""
        end = time.monotonic() + within_s
        while self.open_connections and time.monotonic() < end:
            time.sleep(0.02)
        return not self.open_connections

    def close(self) -> None:
        self.stop.set()
        self._sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


def _read_request(conn: socket.socket) -> dict[str, Any]:
    """The request's JSON body (headers up to 64 KiB, body up to 64 MiB)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece or len(data) > 65536:
            raise ConnectionError("no complete request")
        data += piece
    header, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length > 64 * 2**20:
        raise ConnectionError("request too large")
    while len(body) < length:
        piece = conn.recv(min(65536, length - len(body)))
        if not piece:
            raise ConnectionError("request cut short")
        body += piece
    return json.loads(body or b"{}")
