"""Serve any policy (``metadata`` + ``infer(obs) -> dict``) over openpi's websocket protocol.

Same wire behaviour as openpi's ``WebsocketPolicyServer`` so that openpi's own client (and robot runtimes built on
it) can talk to us: metadata frame first; one msgpack observation in, one result out with ``server_timing``
(``infer_ms``, ``prev_total_ms`` from the second request on) and, if the policy did not add it, ``policy_timing``;
a failure is sent as a text frame holding the traceback, then the connection closes with code 1011;
``GET /healthz`` answers 200 ``OK``; any other plain HTTP request gets websockets' 426 Upgrade Required.

Where we differ, on purpose:

* Inference runs in a worker thread, never on the event loop. openpi calls ``policy.infer`` on the loop, so during
  a long inference nothing answers pings and the keepalive drops the client (openpi#717). Here the loop stays
  free: pings, health checks and new handshakes are served while a slow policy runs.
* One worker thread for the whole server, so calls into the policy never overlap (a model on one accelerator, or
  a policy object that is not thread-safe, sees the same serial calls as under openpi).
* Frames are bounded (``max_frame_bytes``; larger ones are closed with code 1009), an optional API key is checked
  (``Authorization: Api-Key <key>``, 401 otherwise; ``/healthz`` stays open for load balancers), and the default
  host is 127.0.0.1 rather than openpi's 0.0.0.0: exposing a robot policy to the network should be a decision.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import websockets.asyncio.server as ws_server
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from vifailback_demo.errors import PolicyConnectionError, PolicyProtocolError
from vifailback_demo.policy.codec import DEFAULT_MAX_FRAME_BYTES, packb, unpackb

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 10.0
_CLOSE_TIMEOUT_S = 1.0


class PolicyServer:
    """A websocket policy server on a background thread: ``with PolicyServer(policy) as server: server.url``."""

    def __init__(
        self,
        policy: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        metadata: dict[str, Any] | None = None,
        api_key: str | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        ping_interval_s: float | None = 20.0,
        ping_timeout_s: float | None = 20.0,
    ) -> None:
        if not callable(getattr(policy, "infer", None)):
            raise TypeError(f"policy must have an infer(observation) method, got {type(policy).__name__}")
        metadata = metadata if metadata is not None else getattr(policy, "metadata", None) or {}
        if not isinstance(metadata, dict):
            raise PolicyProtocolError(f"policy metadata must be a dict, got {type(metadata).__name__}")
        self.policy = policy
        self.host = host
        self.max_frame_bytes = max_frame_bytes
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self._requested_port = port
        self._api_key = api_key
        self._metadata_frame = packb(metadata, max_frame_bytes=max_frame_bytes)  # refuse bad metadata now
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._inflight: set[asyncio.Future] = set()

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise PolicyConnectionError("policy server is not started; call start() first")
        return self._port

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}"

    def start(self) -> PolicyServer:
        if self._thread is not None:
            return self
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-infer")
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run_loop, name="policy-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise PolicyConnectionError(f"policy server did not start within {_START_TIMEOUT_S:g} s")
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            where = f"{self.host}:{self._requested_port}"
            raise PolicyConnectionError(f"cannot serve the policy on {where}: {self._start_error}") from None
        log.info("policy server listening on %s", self.url)
        return self

    def close(self) -> None:
        """Stop accepting, close open connections (code 1001) and return without waiting for a running inference."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        self._thread = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)  # a running policy call finishes on its own
        self._port = None

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C (the CLI's entry point)."""
        thread = self.start()._thread
        try:
            while thread is not None and thread.is_alive():
                thread.join(0.5)  # a timed join keeps Ctrl-C deliverable
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def __enter__(self) -> PolicyServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- event loop thread ----------------------------------------------------------------------------------------

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            if self._ready.is_set():
                log.exception("policy server stopped on an error")
            else:
                self._start_error = exc  # start() raises it
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await ws_server.serve(
            self._handle,
            self.host,
            self._requested_port,
            compression=None,
            max_size=self.max_frame_bytes,
            process_request=self._process_request,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_timeout_s,
            # How long a closing handshake (or a client lingering after a 401/426 answer) may delay close().
            close_timeout=_CLOSE_TIMEOUT_S,
        )
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            # Free handlers waiting on a slow policy, or closing the server would wait for the policy.
            for future in list(self._inflight):
                future.cancel()

    def _process_request(self, connection: ws_server.ServerConnection, request: ws_server.Request) -> Any:
        if request.path.split("?", 1)[0] == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if self._api_key is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Api-Key {self._api_key}".encode()):
                return connection.respond(
                    http.HTTPStatus.UNAUTHORIZED, "missing or wrong API key (header Authorization: Api-Key <key>)\n"
                )
        return None  # websockets continues: a websocket upgrade, or 426 for plain HTTP

    async def _handle(self, ws: ws_server.ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            await ws.send(self._metadata_frame)
        except ConnectionClosed:
            return
        prev_total_ms: float | None = None
        while True:
            try:
                message = await ws.recv()
            except ConnectionClosed:
                return
            received = time.monotonic()
            try:
                if isinstance(message, str):
                    raise PolicyProtocolError("expected a binary msgpack observation frame, got a text frame")
                observation = unpackb(message, max_frame_bytes=self.max_frame_bytes)
                if not isinstance(observation, dict):
                    raise PolicyProtocolError(f"observation must be a map, got {type(observation).__name__}")
                future = loop.run_in_executor(self._executor, _timed_infer, self.policy, observation)
                self._inflight.add(future)
                try:
                    result, infer_ms = await future
                finally:
                    self._inflight.discard(future)
                result.setdefault("policy_timing", {"infer_ms": infer_ms})
                result["server_timing"] = {"infer_ms": infer_ms}
                if prev_total_ms is not None:
                    # Like openpi: the total of a request includes sending its answer, so it is reported one late.
                    result["server_timing"]["prev_total_ms"] = prev_total_ms
                frame = packb(result, max_frame_bytes=self.max_frame_bytes)
            except asyncio.CancelledError:
                # close() cancelled the wait for a slow policy: tell the client we are going away, not "done".
                await ws.close(CloseCode.GOING_AWAY, "policy server shutting down")
                return
            except Exception:
                log.exception("policy failed for a request from %s", ws.remote_address)
                try:
                    await ws.send(traceback.format_exc())
                    await ws.close(
                        CloseCode.INTERNAL_ERROR, "Internal server error. Traceback included in previous frame."
                    )
                except ConnectionClosed:
                    pass
                return
            try:
                await ws.send(frame)
            except ConnectionClosed:
                return  # the client gave up (timeout); its late answer goes nowhere
            prev_total_ms = (time.monotonic() - received) * 1000


def _timed_infer(policy: Any, observation: dict[str, Any]) -> tuple[dict[str, Any], float]:
    start = time.monotonic()
    result = policy.infer(observation)
    infer_ms = (time.monotonic() - start) * 1000
    if not isinstance(result, dict):
        raise PolicyProtocolError(f"policy.infer must return a dict, got {type(result).__name__}")
    return dict(result), infer_ms  # a copy: the timing keys must not leak into the policy's own object


__all__ = ["PolicyServer"]
