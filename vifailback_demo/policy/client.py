"""A client for openpi-compatible policy servers (pi0, pi0.5 and our own PolicyServer).

The protocol (openpi's ``websocket_client_policy``): open a websocket, read one msgpack frame of server metadata,
then send one observation frame per request and read one result frame. A text frame instead of a result is the
server's traceback, after which the server closes with code 1011.

What this adds over openpi's client, and why:

* Every wait is bounded (``open_timeout_s`` for the handshake plus metadata, ``timeout_s`` per request) and every
  failure is a typed ``PolicyError``; openpi's client waits forever and raises ``RuntimeError``.
* A request that times out or fails drops its connection. That is the only way to guarantee that a late answer is
  never read as the answer to the *next* observation; the next call reconnects.
* Pings are off by default. openpi's server infers on its event loop, so while a slow (CPU) policy runs it cannot
  answer pings and websockets' 20 s keepalive kills the link (openpi#717). Turn them on (``ping_interval_s``) for
  a server that infers off its loop, such as ours, to notice dead peers sooner.
* Connecting is retried with exponential backoff, but a request is only retried while it has not been put on the
  wire: resending an observation a server may already be running would cost a second inference.
* ``ActionChunkGuard`` makes sure an answer to an old observation is never executed after a newer one was seen.
"""

from __future__ import annotations

import contextlib
import http.client
import inspect
import logging
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import websockets.sync.client
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from vifailback_demo.errors import (
    PolicyConnectionError,
    PolicyError,
    PolicyProtocolError,
    PolicyServerError,
    PolicyTimeoutError,
    StaleActionError,
)
from vifailback_demo.policy.codec import DEFAULT_MAX_FRAME_BYTES, packb, unpackb

log = logging.getLogger(__name__)

# websockets 17.1 deprecates a bare connect() call unless legacy=True says "return the connection directly";
# older releases (>= 13 is allowed) do not know the flag.
_LEGACY = {"legacy": True} if "legacy" in inspect.signature(websockets.sync.client.connect).parameters else {}
_MAX_SUMMARY = 300  # characters of a server traceback that go into the one-line error


class _Retryable(Exception):
    """Internal: a connection attempt failed in a way another attempt may fix."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def _server_error(text: str, url: str) -> PolicyServerError:
    """One line out of a server traceback: its last line names the exception; the whole text stays attached."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        summary = "(empty error text)"
    elif lines[0].startswith("Traceback") or len(lines) == 1:
        summary = lines[-1]
    else:
        summary = f"{lines[0]} ... {lines[-1]}"
    if len(summary) > _MAX_SUMMARY:
        summary = summary[: _MAX_SUMMARY - 3] + "..."
    error = PolicyServerError(f"policy server at {url} failed: {summary} (full traceback in .traceback)")
    error.traceback = text[:65536]  # type: ignore[attr-defined]
    return error


def _closed_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost without a close frame"
    if frame.code == 1009:
        return "closed with code 1009: a frame exceeded the peer's size limit (max_frame_bytes)"
    return f"closed with code {frame.code}" + (f" ({frame.reason})" if frame.reason else "")


class PolicyClient:
    """One websocket link to a policy server; ``infer(observation) -> {"actions": [horizon, dim], ...}``.

    Thread-safe (one request at a time). Connects lazily on first use, or eagerly with ``connect()`` / ``with``.
    It satisfies the ``Policy`` protocol, so a client can stand wherever a policy is expected (even behind a
    PolicyServer, as a relay). Note that on Python 3.11 ``isinstance(client, Policy)`` reads ``metadata`` and so
    connects: check the protocol on a connected client.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 30.0,
        open_timeout_s: float = 10.0,
        api_key: str | None = None,
        ping_interval_s: float | None = None,
        ping_timeout_s: float = 20.0,
        max_retries: int = 3,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        close_timeout_s: float = 1.0,
    ) -> None:
        if "://" not in url:
            url = f"ws://{url}"  # openpi accepts "host:port" too
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise PolicyConnectionError(f"policy server URL must look like ws://host:port, got {url!r}")
        if timeout_s <= 0 or open_timeout_s <= 0 or max_retries < 0 or backoff_s < 0:
            raise ValueError("timeouts must be > 0, max_retries and backoff_s >= 0")
        self.url = url
        self.timeout_s = timeout_s
        self.open_timeout_s = open_timeout_s
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_frame_bytes = max_frame_bytes
        self.close_timeout_s = close_timeout_s
        self._api_key = api_key
        self._ws: websockets.sync.client.ClientConnection | None = None
        self._metadata: dict[str, Any] | None = None
        self._latency: float | None = None
        self._lock = threading.RLock()

    # -- public API -----------------------------------------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Any]:
        """The server's first frame (connects if needed); re-read on every reconnect."""
        with self._lock:
            if self._ws is None:
                self._with_retries(None)
            assert self._metadata is not None
            return self._metadata

    @property
    def latency(self) -> float | None:
        """Seconds the last successful ``infer`` took end to end (encode, reconnects, network, decode)."""
        return self._latency

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def connect(self) -> PolicyClient:
        with self._lock:
            if self._ws is None:
                self._with_retries(None)
        return self

    def infer(self, observation: dict[str, Any]) -> dict[str, Any]:
        """Send one observation, return the server's result (``"actions"`` [horizon, dim] plus its extra keys).

        Raises PolicyTimeoutError (no answer within ``timeout_s``), PolicyServerError (the server's traceback),
        PolicyConnectionError (unreachable after the retries, or dropped mid-request), PolicyProtocolError (a frame
        that breaks the format or the size limit). After any of them the next call starts on a fresh connection.
        """
        if not isinstance(observation, dict):
            raise PolicyProtocolError(f"observation must be a dict, got {type(observation).__name__}")
        frame = packb(observation, max_frame_bytes=self.max_frame_bytes)  # refuses before anything is sent
        with self._lock:
            start = time.perf_counter()
            ws = self._with_retries(frame)
            try:
                reply = ws.recv(timeout=self.timeout_s)
            except TimeoutError:
                self._drop()
                raise PolicyTimeoutError(
                    f"policy server at {self.url} did not answer within {self.timeout_s:g} s; the connection was "
                    "dropped so its late answer cannot reach a later request"
                ) from None
            except ConnectionClosed as exc:
                self._drop()
                if 1009 in (getattr(exc.rcvd, "code", None), getattr(exc.sent, "code", None)):
                    # Retrying cannot help: one side's max_frame_bytes is smaller than this exchange needs.
                    raise PolicyProtocolError(f"policy link to {self.url}: {_closed_reason(exc)}") from None
                keepalive = exc.sent is not None and "keepalive" in exc.sent.reason
                hint = (
                    "; the server did not answer pings while inferring: set ping_interval_s=None" if keepalive else ""
                )
                raise PolicyConnectionError(
                    f"policy server at {self.url} dropped the request: {_closed_reason(exc)}{hint}"
                ) from None
            if isinstance(reply, str):
                self._drop()  # the server closes with 1011 next; do not wait for it
                raise _server_error(reply, self.url)
            try:
                result = unpackb(reply, max_frame_bytes=self.max_frame_bytes)
                _check_result(result)
            except PolicyProtocolError:
                self._drop()  # a peer that sends garbage is not trusted for the next request either
                raise
            self._latency = time.perf_counter() - start
            return result

    def health(self, timeout_s: float = 2.0) -> bool:
        """``GET /healthz`` over plain HTTP(S) on the server's port: True on 200, False on any other status.

        Raises PolicyConnectionError when nothing answers, PolicyTimeoutError when it answers too slowly.
        """
        parts = urlsplit(self.url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "wss" else http.client.HTTPConnection
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        conn = conn_cls(parts.hostname, port, timeout=timeout_s)
        headers = {"Authorization": f"Api-Key {self._api_key}"} if self._api_key else {}
        try:
            conn.request("GET", "/healthz", headers=headers)
            return conn.getresponse().status == 200
        except TimeoutError:
            raise PolicyTimeoutError(
                f"policy server at {self.url} did not answer /healthz within {timeout_s:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise PolicyConnectionError(f"policy server at {self.url} is not reachable: {exc}") from None
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()

    def __enter__(self) -> PolicyClient:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- connection handling --------------------------------------------------------------------------------------

    def _with_retries(self, frame: bytes | None) -> websockets.sync.client.ClientConnection:
        """Make sure a connection is open (and send ``frame`` on it), retrying with backoff until it worked.

        Only failures before the frame is on the wire are retried: a refused or timed-out connect, or a connection
        that turns out to be closed (server restarted since the last call) when we send.
        """
        attempt = 0
        while True:
            try:
                if self._ws is None:
                    self._ws, self._metadata = self._open()
                if frame is not None:
                    self._send(self._ws, frame)
                return self._ws
            except PolicyError:
                raise  # final answers (refused key, server traceback); note PolicyConnectionError is an OSError
            except (_Retryable, ConnectionClosed, OSError) as exc:
                self._drop()
                last = exc
            if attempt >= self.max_retries:
                message = f"could not reach the policy server at {self.url} after {attempt + 1} attempt(s): {last}"
                if isinstance(last, _Retryable) and last.timed_out:
                    raise PolicyTimeoutError(message)
                raise PolicyConnectionError(message)
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
            log.info("policy link to %s failed (%s); retrying in %.2f s", self.url, last, delay)
            time.sleep(delay)
            attempt += 1

    def _send(self, ws: websockets.sync.client.ClientConnection, frame: bytes) -> None:
        """``ws.send(frame)`` bounded by ``timeout_s``.

        The websockets client has no send timeout, and a server that stops reading (hung, or swapping) fills the
        socket buffers, so a large observation would block here forever. A timer shuts the socket down at the
        deadline, which ends the blocked write with an error; the request is then retried on a fresh connection.
        """
        fired = threading.Event()

        def abort() -> None:
            fired.set()
            with contextlib.suppress(OSError):
                ws.socket.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(self.timeout_s, abort)
        timer.daemon = True
        timer.start()
        try:
            ws.send(frame)
        except (ConnectionClosed, OSError):
            if fired.is_set():
                raise _Retryable(
                    f"the request could not be written within {self.timeout_s:g} s", timed_out=True
                ) from None
            raise
        finally:
            timer.cancel()

    def _open(self) -> tuple[websockets.sync.client.ClientConnection, dict[str, Any]]:
        headers = {"Authorization": f"Api-Key {self._api_key}"} if self._api_key else None
        try:
            ws = websockets.sync.client.connect(
                self.url,
                compression=None,  # images do not deflate well and openpi's server has it off too
                additional_headers=headers,
                open_timeout=self.open_timeout_s,
                ping_interval=self.ping_interval_s,
                ping_timeout=self.ping_timeout_s if self.ping_interval_s is not None else None,
                close_timeout=self.close_timeout_s,
                max_size=self.max_frame_bytes,
                **_LEGACY,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise PolicyConnectionError(
                    f"policy server at {self.url} refused the connection (HTTP {status}): missing or wrong api_key"
                ) from None
            if status < 500:
                raise PolicyConnectionError(
                    f"policy server at {self.url} refused the websocket (HTTP {status})"
                ) from None
            raise _Retryable(f"HTTP {status}") from None
        except InvalidURI as exc:
            raise PolicyConnectionError(f"bad policy server URL {self.url!r}: {exc}") from None
        except TimeoutError:
            raise _Retryable(f"no websocket handshake within {self.open_timeout_s:g} s", timed_out=True) from None
        except (OSError, InvalidHandshake) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        try:
            first = ws.recv(timeout=self.open_timeout_s)
        except TimeoutError:
            ws.close()
            raise _Retryable(f"no metadata frame within {self.open_timeout_s:g} s", timed_out=True) from None
        except ConnectionClosed as exc:
            raise _Retryable(f"closed before sending metadata: {_closed_reason(exc)}") from None
        if isinstance(first, str):
            ws.close()
            raise _server_error(first, self.url)
        try:
            metadata = unpackb(first, max_frame_bytes=self.max_frame_bytes)
        except PolicyProtocolError:
            ws.close()
            raise
        if not isinstance(metadata, dict):
            ws.close()
            raise PolicyProtocolError(f"policy server metadata must be a map, got {type(metadata).__name__}")
        log.debug("connected to policy server %s, metadata keys %s", self.url, sorted(metadata))
        return ws, metadata

    def _drop(self) -> None:
        """Forget the current connection now; close it in the background so a slow peer cannot stall the caller."""
        ws, self._ws = self._ws, None
        if ws is not None:
            threading.Thread(target=ws.close, name="policy-link-close", daemon=True).start()


def _check_result(result: Any) -> None:
    if not isinstance(result, dict) or "actions" not in result:
        keys = sorted(result) if isinstance(result, dict) else type(result).__name__
        raise PolicyProtocolError(f"policy result must be a map with 'actions', got {keys}")
    actions = result["actions"]
    shape = np.shape(actions) if isinstance(actions, np.ndarray | list) else None
    if shape is None or len(shape) != 2:
        raise PolicyProtocolError(f"policy 'actions' must be an array [horizon, action_dim], got shape {shape}")


class ActionChunkGuard:
    """Drops an action chunk that answers an observation older than the robot's current one; never replays one.

    The caller stamps each request with its observation's time (a timestamp or a frame index) and, when about to
    execute, passes the robot's current observation time::

        guard = ActionChunkGuard(max_lag=2)              # tolerate chunks up to 2 frames behind
        result = client.infer(obs)                        # obs taken at frame t_obs
        actions = guard.check(result["actions"], t_obs, robot.frame_index)   # or StaleActionError

    A chunk is refused when ``current_time - obs_time > max_lag``, and also when its ``obs_time`` is not newer
    than that of the last chunk let through (a duplicate or out-of-order answer). ``max_lag=0`` suits a robot
    that waits for each answer (the simulator); a robot that keeps moving while the policy thinks needs the
    policy's latency worth of slack.
    """

    def __init__(self, max_lag: float = 0) -> None:
        if max_lag < 0:
            raise ValueError(f"max_lag must be >= 0, got {max_lag}")
        self.max_lag = max_lag
        self._last_obs_time: float | None = None

    def check(self, actions: Any, obs_time: float, current_time: float) -> Any:
        lag = current_time - obs_time
        if lag > self.max_lag:
            raise StaleActionError(
                f"action chunk for observation {obs_time} is {lag:g} behind the current one ({current_time}); "
                f"max_lag is {self.max_lag:g}: dropped"
            )
        if self._last_obs_time is not None and obs_time <= self._last_obs_time:
            raise StaleActionError(
                f"action chunk for observation {obs_time} is not newer than the last one executed "
                f"({self._last_obs_time}): dropped, never replayed"
            )
        self._last_obs_time = obs_time
        return actions

    def fresh(self, actions: Any, obs_time: float, current_time: float) -> Any | None:
        """Like ``check`` but returns None instead of raising."""
        try:
            return self.check(actions, obs_time, current_time)
        except StaleActionError:
            return None

    def reset(self) -> None:
        """Forget the last chunk (a new episode restarts frame indices)."""
        self._last_obs_time = None


__all__ = ["ActionChunkGuard", "PolicyClient"]
