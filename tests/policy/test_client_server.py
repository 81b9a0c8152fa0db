"""PolicyClient against PolicyServer on 127.0.0.1: protocol, failures, timeouts, reconnects, keepalive, limits."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from typing import ClassVar

import numpy as np
import pytest
import websockets.sync.client

from vifailback_demo.errors import (
    PolicyConnectionError,
    PolicyProtocolError,
    PolicyServerError,
    PolicyTimeoutError,
    StaleActionError,
)
from vifailback_demo.policy.base import Policy
from vifailback_demo.policy.client import ActionChunkGuard, PolicyClient
from vifailback_demo.policy.codec import packb, unpackb
from vifailback_demo.policy.server import PolicyServer

METADATA = {"reset_pose": [0, -1.5, 1.5, 0, 0, 0]}


class EchoPolicy:
    """Answers zeros [50, 14] plus the observation's ``i``; ``sleep`` / ``fail`` keys steer it."""

    metadata = METADATA

    def __init__(self) -> None:
        self.calls = 0

    def infer(self, obs):
        self.calls += 1
        if obs.get("fail"):
            raise ValueError("policy exploded on purpose")
        time.sleep(float(obs.get("sleep", 0.0)))
        result = {"actions": np.zeros((50, 14), np.float32) + obs.get("i", 0), "i": obs.get("i")}
        if "image" in obs:
            result["checksum"] = int(obs["image"].astype(np.int64).sum())
        return result


@pytest.fixture
def policy():
    return EchoPolicy()


@pytest.fixture
def server(policy):
    with PolicyServer(policy) as srv:
        yield srv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metadata_first_then_round_trip(server, policy):
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    with PolicyClient(server.url) as client:
        assert client.connected and client.metadata == METADATA
        first = client.infer({"i": 1, "image": image, "state": np.zeros(14, np.float32), "prompt": "fold"})
        assert first["actions"].shape == (50, 14) and first["actions"].dtype == np.float32
        assert first["i"] == 1 and first["checksum"] == int(image.astype(np.int64).sum())
        assert set(first["policy_timing"]) == {"infer_ms"} and set(first["server_timing"]) == {"infer_ms"}
        second = client.infer({"i": 2})
        assert np.all(second["actions"] == 2) and second["server_timing"]["prev_total_ms"] >= 0
        assert client.latency is not None and 0 < client.latency < 5
    assert not client.connected and policy.calls == 2


def test_metadata_argument_overrides_the_policy_attribute(policy):
    with PolicyServer(policy, metadata={}) as srv, PolicyClient(srv.url) as client:
        assert client.metadata == {}


def test_server_error_is_a_text_frame_then_1011(server):
    # What openpi's clients see on the wire.
    with websockets.sync.client.connect(server.url, compression=None) as ws:
        assert unpackb(ws.recv()) == METADATA
        ws.send(packb({"fail": True}))
        text = ws.recv()
        assert isinstance(text, str) and "Traceback" in text and "ValueError: policy exploded" in text
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
            ws.recv()
        assert info.value.rcvd.code == 1011


def test_server_error_raises_then_next_call_reconnects(server, policy):
    with PolicyClient(server.url) as client:
        with pytest.raises(PolicyServerError) as info:
            client.infer({"fail": True})
        message = str(info.value)
        assert "ValueError: policy exploded on purpose" in message and "\n" not in message and len(message) < 500
        assert "Traceback" in info.value.traceback
        assert not client.connected  # dropped so that nothing of the failed exchange is read later
        assert client.infer({"i": 3})["i"] == 3
        assert policy.calls == 2


def test_request_timeout_drops_the_late_answer(server):
    with PolicyClient(server.url, timeout_s=0.3) as client:
        start = time.monotonic()
        with pytest.raises(PolicyTimeoutError, match=r"did not answer within 0\.3 s"):
            client.infer({"i": 1, "sleep": 1.0})
        assert time.monotonic() - start < 0.8
        client.timeout_s = 5.0
        # The server is still busy with request 1; its late answer must not be taken for request 2's.
        assert client.infer({"i": 2})["i"] == 2
        assert client.infer({"i": 3})["i"] == 3


def test_open_timeout_against_a_server_that_never_handshakes():
    with socket.socket() as listener:  # the kernel completes TCP handshakes into the backlog; nobody answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}"
        client = PolicyClient(url, open_timeout_s=0.3, max_retries=0)
        start = time.monotonic()
        with pytest.raises(PolicyTimeoutError, match=r"no websocket handshake within 0\.3 s"):
            client.infer({"i": 1})
        assert time.monotonic() - start < 1.5
        with pytest.raises(PolicyTimeoutError, match="/healthz"):
            client.health(timeout_s=0.3)


def test_nothing_listening_retries_with_backoff_then_fails():
    client = PolicyClient(f"ws://127.0.0.1:{_free_port()}", max_retries=3, backoff_s=0.05)
    start = time.monotonic()
    with pytest.raises(PolicyConnectionError, match="after 4 attempt"):
        client.infer({"i": 1})
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 2.0  # backoff 0.05 + 0.1 + 0.2 was slept, and nothing more
    with pytest.raises(PolicyConnectionError, match="not reachable"):
        client.health(timeout_s=0.5)


def test_server_gone_then_back_on_the_same_port(policy):
    srv = PolicyServer(policy).start()
    port = srv.port
    client = PolicyClient(srv.url, max_retries=2, backoff_s=0.05)
    assert client.infer({"i": 1})["i"] == 1
    srv.close()
    time.sleep(0.1)  # let the close frame reach the client
    start = time.monotonic()
    with pytest.raises(PolicyConnectionError, match="after 3 attempt"):
        client.infer({"i": 2})
    assert time.monotonic() - start < 2.0
    with PolicyServer(policy, port=port, metadata={"generation": 2}):
        assert client.infer({"i": 3})["i"] == 3
        assert client.metadata == {"generation": 2}  # re-read on reconnect
    client.close()


def test_healthz_and_plain_http(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=2) as response:
        assert response.status == 200 and response.read() == b"OK\n"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=2)
    assert info.value.code == 426
    info.value.close()  # a client lingering on the socket would hold up the server's close() for close_timeout
    assert PolicyClient(server.url).health() is True


def test_health_is_false_for_a_websocket_server_without_healthz():
    import websockets.sync.server

    with websockets.sync.server.serve(lambda ws: None, "127.0.0.1", 0) as bare:
        thread = threading.Thread(target=bare.serve_forever, daemon=True)
        thread.start()
        try:
            assert PolicyClient(f"ws://127.0.0.1:{bare.socket.getsockname()[1]}").health() is False
        finally:
            bare.shutdown()


def test_api_key_accepted_and_refused(policy):
    with PolicyServer(policy, api_key="s3cret") as srv:
        with PolicyClient(srv.url, api_key="s3cret") as client:
            assert client.infer({"i": 1})["i"] == 1
        for key in (None, "wrong"):
            client = PolicyClient(srv.url, api_key=key, max_retries=3, backoff_s=1.0)
            start = time.monotonic()
            with pytest.raises(PolicyConnectionError, match=r"HTTP 401.*api_key"):
                client.infer({"i": 2})
            assert time.monotonic() - start < 0.9  # a refusal is final: no backoff
        assert PolicyClient(srv.url).health() is True  # /healthz stays open for probes
    assert policy.calls == 1


def test_server_answers_pings_while_a_slow_policy_runs(policy):
    # Both sides ping every 0.1 s and give up after 0.3 s; the policy takes 1.2 s. openpi's server, inferring on
    # its event loop, would miss every pong and be dropped (see test_openpi_compat for that failure reproduced).
    with (
        PolicyServer(policy, ping_interval_s=0.1, ping_timeout_s=0.3) as srv,
        PolicyClient(srv.url, ping_interval_s=0.1, ping_timeout_s=0.3, timeout_s=5) as client,
    ):
        ws = client._ws
        assert client.infer({"i": 1, "sleep": 1.2})["i"] == 1
        assert client._ws is ws and ws.latency > 0  # the same connection, and our pings were answered
        assert client.infer({"i": 2})["i"] == 2


def test_oversized_frames_are_refused(policy):
    big = {"image": np.zeros((100, 100, 3), np.uint8)}  # ~30 kB
    with PolicyServer(policy, max_frame_bytes=10_000) as srv:
        # The client refuses locally, before sending anything.
        with PolicyClient(srv.url, max_frame_bytes=10_000) as client:
            with pytest.raises(PolicyProtocolError, match="exceeds the limit of 10000 bytes"):
                client.infer(big)
            assert client.connected and client.infer({"i": 1})["i"] == 1
        # A client with a larger limit sends it; the server closes with 1009.
        with PolicyClient(srv.url) as client, pytest.raises(PolicyProtocolError, match="1009"):
            client.infer(big)
    # The answer is too large for the client: it closes with 1009 itself.
    with (
        PolicyServer(policy) as srv,
        PolicyClient(srv.url, max_frame_bytes=1_000) as client,
        pytest.raises(PolicyProtocolError, match="1009"),
    ):
        client.infer({"i": 1})
    assert policy.calls == 2


def test_result_without_actions_is_a_protocol_error():
    class NoActions:
        metadata: ClassVar[dict] = {}

        def infer(self, obs):
            return {"action": [1, 2]}

    with (
        PolicyServer(NoActions()) as srv,
        PolicyClient(srv.url) as client,
        pytest.raises(PolicyProtocolError, match="'actions'"),
    ):
        client.infer({})


def test_close_does_not_wait_for_a_running_inference(policy):
    srv = PolicyServer(policy).start()
    client = PolicyClient(srv.url, timeout_s=5, max_retries=0)
    client.connect()
    caught: list[BaseException] = []

    def call() -> None:
        try:
            client.infer({"sleep": 1.5})
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.3)
    start = time.monotonic()
    srv.close()
    assert time.monotonic() - start < 1.0
    thread.join(5)
    assert len(caught) == 1 and isinstance(caught[0], PolicyConnectionError) and "1001" in str(caught[0])


def test_a_client_is_a_policy_and_can_be_relayed(server):
    with PolicyClient(server.url) as upstream, PolicyServer(upstream) as relay, PolicyClient(relay.url) as client:
        assert isinstance(upstream, Policy)
        assert client.metadata == METADATA
        assert client.infer({"i": 5})["i"] == 5


def test_serve_forever_returns_when_closed(policy):
    srv = PolicyServer(policy)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while srv._port is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with PolicyClient(srv.url) as client:
        assert client.infer({"i": 4})["i"] == 4
    srv.close()
    thread.join(5)
    assert not thread.is_alive()


def test_port_in_use_is_a_connection_error(server, policy):
    with pytest.raises(PolicyConnectionError, match="cannot serve"):
        PolicyServer(policy, port=server.port).start()


def test_bad_url_is_refused():
    with pytest.raises(PolicyConnectionError, match="ws://host:port"):
        PolicyClient("http://127.0.0.1:1")
    assert PolicyClient("127.0.0.1:8000").url == "ws://127.0.0.1:8000"  # openpi's host:port shorthand


def test_action_chunk_guard_drops_stale_and_replayed_chunks():
    chunk = np.zeros((50, 14))
    guard = ActionChunkGuard()
    assert guard.check(chunk, obs_time=10, current_time=10) is chunk
    with pytest.raises(StaleActionError, match="behind the current one"):
        guard.check(chunk, obs_time=11, current_time=12)  # the robot has moved on since frame 11
    with pytest.raises(StaleActionError, match="never replayed"):
        guard.check(chunk, obs_time=10, current_time=10)  # the same answer again
    assert guard.fresh(chunk, obs_time=9, current_time=9) is None  # out of order
    lenient = ActionChunkGuard(max_lag=0.25)
    assert lenient.check(chunk, obs_time=1.0, current_time=1.2) is chunk
    assert lenient.fresh(chunk, obs_time=1.1, current_time=1.5) is None
    lenient.reset()
    assert lenient.check(chunk, obs_time=0.0, current_time=0.0) is chunk  # a new episode restarts the clock


def _deaf_server(stop: threading.Event) -> tuple[int, threading.Thread]:
    """A websocket server on 127.0.0.1 that shakes hands, sends the metadata frame, then never reads again: a
    request bigger than the socket buffers cannot be written, so only a bounded send returns."""
    import base64
    import hashlib
    import re

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by the accepted socket
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conns = []
        with listener:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                conns.append(conn)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                key = re.search(rb"sec-websocket-key: *(\S+)", request, re.I).group(1)
                accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                payload = packb(METADATA)
                conn.sendall(bytes([0x82, 126]) + len(payload).to_bytes(2, "big") + payload)
        for conn in conns:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def test_a_request_the_server_never_reads_times_out():
    stop = threading.Event()
    port, thread = _deaf_server(stop)
    client = PolicyClient(f"ws://127.0.0.1:{port}", timeout_s=0.5, max_retries=1, backoff_s=0.01, ping_interval_s=None)
    try:
        client.connect()
        big = {"image": np.random.default_rng(0).integers(0, 255, (32 * 1024 * 1024,), dtype=np.uint8)}
        started = time.monotonic()
        with pytest.raises(PolicyTimeoutError, match=r"could not be written within 0\.5 s"):
            client.infer(big)
        assert time.monotonic() - started < 5.0  # two attempts of 0.5 s each, not a hang
    finally:
        stop.set()
        client.close()
        thread.join(5)
