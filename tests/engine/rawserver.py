"""A raw-socket HTTP server on 127.0.0.1 that misbehaves on purpose: each connection runs a script.

Where ``http.server`` always writes well-formed replies, a script writes bytes exactly as a broken or hostile server
would: nothing at all, a keep-alive comment forever, HTML, a stream cut mid-way. Everything is bounded: at most
``max_connections`` connections, every socket with a timeout, every script loop bounded in count and time, and
:meth:`RawServer.close` (or leaving the ``with`` block) stops the scripts and joins the threads.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

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


# --- scripts shared by the tests ---------------------------------------------------------------------------


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
