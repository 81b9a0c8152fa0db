"""A wall-clock deadline for one HTTP call made with ``urllib``, enforced on the socket itself.

Socket timeouts bound each wait, not the total: a server that sends a keep-alive line every few seconds, or
drips its headers a byte at a time, never trips them. :class:`Deadline` runs a timer for the whole call; the
connections that :func:`opener` makes hand it their socket as soon as TCP connects (before any TLS handshake),
and when the deadline passes the timer shuts that connection down. A read blocked in any layer (TLS, headers, a
chunked body, an event stream) then returns at once, with end-of-file or an error, and the caller asks
:meth:`Deadline.over` what happened.

Not covered: name resolution (``getaddrinfo`` cannot be interrupted; for an IP address there is none), which the
caller's socket ``timeout`` does not bound either.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import threading
import time
import urllib.request
from typing import Any


class DeadlinePassed(Exception):
    """Raised inside a call when its deadline has passed (the caller words the user-facing error)."""


class Deadline:
    """The end of one call, ``seconds`` from now. Call :meth:`cancel` when the call is over (stops the timer)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._fired = False
        self._watched: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return self.end - time.monotonic()

    def over(self) -> bool:
        return self._fired or self.left() <= 0

    def attach(self, sock: socket.socket) -> None:
        """Watch the connection of ``sock`` (attempts run one after another: one connection at a time).

        The deadline keeps its own duplicate of the descriptor: shutting it down ends the connection for every
        descriptor on it, and it stays valid while TLS takes the original over (``wrap_socket`` detaches it) and
        after the caller closes its own (so a descriptor number reused elsewhere is never touched).
        """
        watched = socket.fromfd(sock.fileno(), sock.family, sock.type)
        with self._lock:
            previous, self._watched = self._watched, watched
            fired = self._fired
        _close(previous)
        if fired:
            self._fire()

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            watched, self._watched = self._watched, None
        if watched is not None:
            with contextlib.suppress(OSError):  # already closed by the peer
                watched.shutdown(socket.SHUT_RDWR)
            _close(watched)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            watched, self._watched = self._watched, None
        _close(watched)


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


class _WatchedHTTP(http.client.HTTPConnection):
    def __init__(self, *args: Any, deadline: Deadline | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()  # the TCP connection; for HTTPS, before the TLS handshake (see _WatchedHTTPS)
        if self._deadline is not None:
            self._deadline.attach(self.sock)


class _WatchedHTTPS(http.client.HTTPSConnection, _WatchedHTTP):
    """Method order: this, HTTPSConnection, _WatchedHTTP, HTTPConnection. HTTPSConnection.connect calls
    _WatchedHTTP.connect, so the deadline watches the connection from before the TLS handshake on."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTP, deadline=self._deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTPS, deadline=self._deadline), req, context=self._context)


def opener(deadline: Deadline) -> urllib.request.OpenerDirector:
    """``urlopen``'s usual opener (proxies from the environment included) whose connections ``deadline`` watches."""
    return urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline))
