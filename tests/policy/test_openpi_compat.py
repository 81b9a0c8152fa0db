"""Wire compatibility with openpi, three ways.

(a) Golden frames packed by openpi's own codec (tests/fixtures/openpi, see its README) decode with our codec, and our
    encoder reproduces them byte for byte.
(b) Our client talks to a minimal openpi-style server written here from the protocol description (it does not use
    our codec, and like openpi it runs inference on its event loop, which reproduces openpi#717).
(c) Our server answers openpi's real client (``openpi_client.WebsocketClientPolicy``, installed with
    ``pip install --no-deps openpi-client==0.1.2``) and a minimal client written here from the description.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import threading
import time
import traceback
from pathlib import Path
from typing import ClassVar

import msgpack
import numpy as np
import pytest
import websockets.asyncio.server
import websockets.sync.client
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from vifailback_demo.errors import PolicyConnectionError, PolicyServerError
from vifailback_demo.policy.client import PolicyClient
from vifailback_demo.policy.codec import packb, unpackb
from vifailback_demo.policy.server import PolicyServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openpi"


def _load_cases() -> dict[str, object]:
    spec = importlib.util.spec_from_file_location("openpi_make_golden", FIXTURES / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cases()


CASES = _load_cases()


# -- the format, written from the description (independent of vifailback_demo.policy.codec) ---------------------------


def spec_pack(obj) -> bytes:
    def default(o):
        if isinstance(o, np.ndarray):
            return {b"__ndarray__": True, b"data": o.tobytes(), b"dtype": o.dtype.str, b"shape": o.shape}
        if isinstance(o, np.generic):
            return {b"__npgeneric__": True, b"data": o.item(), b"dtype": o.dtype.str}
        raise TypeError(f"cannot pack {type(o)}")

    return msgpack.packb(obj, default=default)


def spec_unpack(data: bytes):
    def hook(m):
        if b"__ndarray__" in m:
            return np.frombuffer(m[b"data"], dtype=np.dtype(m[b"dtype"])).reshape(m[b"shape"])
        if b"__npgeneric__" in m:
            return np.dtype(m[b"dtype"]).type(m[b"data"])
        return m

    return msgpack.unpackb(data, object_hook=hook)


def aloha_observation(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    cams = ("cam_high", "cam_left_wrist", "cam_right_wrist")
    return {
        "state": rng.standard_normal(14).astype(np.float32),
        "images": {cam: rng.integers(0, 256, (3, 224, 224), dtype=np.uint8) for cam in cams},
        "prompt": "fold the towel",
    }


def aloha_policy(obs: dict) -> dict:
    """Answers a chunk derived from the observation, so a corrupted observation shows in the answer."""
    if obs.get("prompt") == "fail":
        raise ValueError("policy exploded on purpose")
    time.sleep(float(obs.get("sleep", 0.0)))
    checksum = sum(int(img.astype(np.int64).sum()) for img in obs["images"].values())
    actions = np.tile(np.asarray(obs["state"], np.float32), (50, 1))
    return {"actions": actions, "checksum": checksum, "prompt": obs["prompt"]}


def _checksum(obs: dict) -> int:
    return sum(int(img.astype(np.int64).sum()) for img in obs["images"].values())


def assert_same(got, expected, where="value"):
    """Structural equality as the wire defines it: tuples come back as lists, float64 scalars as floats."""
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray), where
        assert got.dtype.str == expected.dtype.str and got.shape == expected.shape, where
        np.testing.assert_array_equal(got, expected, err_msg=where)
    elif isinstance(expected, np.float64):
        assert type(got) is float and got == expected, where
    elif isinstance(expected, np.generic):
        assert type(got) is type(expected) and got == expected, where
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), where
        for key in expected:
            assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert isinstance(got, list) and len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]")
    else:
        assert type(got) is type(expected) and got == expected, where


# -- (a) golden frames from openpi's own codec ------------------------------------------------------------------------


def test_every_case_has_a_golden_file():
    assert {p.name for p in FIXTURES.glob("golden_*.msgpack")} == {f"golden_{name}.msgpack" for name in CASES}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_frame_decodes_with_our_codec(name):
    assert_same(unpackb((FIXTURES / f"golden_{name}.msgpack").read_bytes()), CASES[name], name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_encoder_is_byte_identical_to_openpi(name):
    assert packb(CASES[name]) == (FIXTURES / f"golden_{name}.msgpack").read_bytes()


def test_hand_checked_bytes():
    metadata = (
        bytes.fromhex("81 aa") + b"reset_pose" + bytes.fromhex("96 00 cb bff8000000000000 cb 3ff8000000000000 000000")
    )
    assert (FIXTURES / "golden_metadata_aloha.msgpack").read_bytes() == metadata
    scalar = bytes.fromhex("87 a5") + b"int64" + bytes.fromhex("83 c40d") + b"__npgeneric__" + bytes.fromhex("c3 c404")
    scalar += b"data" + bytes.fromhex("f9 c405") + b"dtype" + bytes.fromhex("a3") + b"<i8"
    assert (FIXTURES / "golden_scalars.msgpack").read_bytes().startswith(scalar)


def test_live_openpi_codec_agrees_on_random_arrays():
    # scripts/test.sh installs openpi-client (--no-deps: it pins numpy<2); a missing install fails, never skips.
    msgpack_numpy = importlib.import_module("openpi_client.msgpack_numpy")
    rng = np.random.default_rng(1)
    for dtype in ("|u1", "<i8", "<f4", "<f8", "|b1", "<u2", ">f4"):
        for _ in range(10):
            shape = tuple(int(n) for n in rng.integers(0, 6, size=rng.integers(0, 4)))
            value = {"x": (rng.standard_normal(shape) * 100).astype(dtype), "s": np.int32(rng.integers(-99, 99))}
            assert packb(value) == msgpack_numpy.packb(value)
            assert_same(msgpack_numpy.unpackb(packb(value)), value)


# -- (b) our client against a minimal openpi-style server -------------------------------------------------------------


class OpenpiStyleServer:
    """openpi's server behaviour from its description: metadata first, one answer per observation, traceback text
    frame + close 1011 on failure, /healthz. Like openpi it calls the policy ON its event loop."""

    def __init__(self, infer, metadata, *, ping_interval=20.0, ping_timeout=20.0) -> None:
        self.infer, self.metadata = infer, metadata
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.connections = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()

        def health(connection, request):
            return connection.respond(200, "OK\n") if request.path == "/healthz" else None

        async with websockets.asyncio.server.serve(
            self._handler,
            "127.0.0.1",
            0,
            compression=None,
            max_size=None,
            process_request=health,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=1,
        ) as server:
            self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            self._ready.set()
            await self._stop.wait()

    async def _handler(self, ws) -> None:
        self.connections += 1
        await ws.send(spec_pack(self.metadata))
        while True:
            try:
                obs = spec_unpack(await ws.recv())
                start = time.monotonic()
                action = self.infer(obs)  # blocking, on the loop, as openpi does
                action["server_timing"] = {"infer_ms": (time.monotonic() - start) * 1000}
                await ws.send(spec_pack(action))
            except ConnectionClosed:
                return
            except Exception:
                await ws.send(traceback.format_exc())
                await ws.close(1011, "Internal server error. Traceback included in previous frame.")
                return

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def test_our_client_against_openpi_style_server():
    obs = aloha_observation()
    metadata = {"reset_pose": [0, -1.5, 1.5, 0, 0, 0]}
    with OpenpiStyleServer(aloha_policy, metadata) as srv, PolicyClient(srv.url) as client:
        assert client.metadata == metadata
        result = client.infer(obs)
        assert result["actions"].shape == (50, 14) and result["actions"].dtype == np.float32
        np.testing.assert_array_equal(result["actions"][7], obs["state"])
        assert result["checksum"] == _checksum(obs) and result["prompt"] == "fold the towel"
        assert set(result["server_timing"]) == {"infer_ms"}
        with pytest.raises(PolicyServerError, match="ValueError: policy exploded on purpose"):
            client.infer({**obs, "prompt": "fail"})
        assert client.infer(obs)["checksum"] == _checksum(obs)  # reconnected
        assert srv.connections == 2
        assert client.health() is True


def test_pings_must_be_off_for_a_slow_policy_on_an_openpi_server():
    # openpi#717 in small: the server's loop is blocked for 1 s by inference, so it cannot answer our pings.
    slow = {**aloha_observation(), "sleep": 1.0}
    with OpenpiStyleServer(aloha_policy, {}, ping_interval=None) as srv:
        pinging = PolicyClient(srv.url, ping_interval_s=0.1, ping_timeout_s=0.3, timeout_s=5, max_retries=0)
        with pinging, pytest.raises(PolicyConnectionError, match="ping_interval_s=None"):
            pinging.infer(slow)
        with PolicyClient(srv.url, timeout_s=5) as client:  # pings off: the default
            assert client.infer(slow)["checksum"] == _checksum(slow)


# -- (c) our server answering openpi clients ---------------------------------------------------------------------------


class AlohaPolicy:
    metadata: ClassVar[dict] = {"reset_pose": [0, -1.5, 1.5, 0, 0, 0]}

    def infer(self, obs):
        return aloha_policy(obs)


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
def test_our_server_answers_the_real_openpi_client():
    ws_client = importlib.import_module("openpi_client.websocket_client_policy")
    obs = aloha_observation(2)
    with PolicyServer(AlohaPolicy(), api_key="k3y") as srv:
        client = ws_client.WebsocketClientPolicy(srv.url, api_key="k3y")
        assert client.get_server_metadata() == AlohaPolicy.metadata
        for _ in range(2):
            result = client.infer(obs)
            assert result["actions"].shape == (50, 14) and result["checksum"] == _checksum(obs)
            np.testing.assert_array_equal(result["actions"][0], obs["state"])
            assert set(result["policy_timing"]) == {"infer_ms"}
        assert set(result["server_timing"]) == {"infer_ms", "prev_total_ms"}
        with pytest.raises(RuntimeError, match="Error in inference server:\nTraceback"):
            client.infer({**obs, "prompt": "fail"})
        with pytest.raises(websockets.exceptions.InvalidStatus):
            ws_client.WebsocketClientPolicy(srv.url, api_key="wrong")


def test_our_server_answers_a_spec_client():
    obs = aloha_observation(3)
    with PolicyServer(AlohaPolicy()) as srv, websockets.sync.client.connect(srv.url, compression=None) as ws:
        assert spec_unpack(ws.recv()) == AlohaPolicy.metadata
        ws.send(spec_pack(obs))
        result = spec_unpack(ws.recv())
        assert result["actions"].shape == (50, 14) and result["checksum"] == _checksum(obs)
        assert set(result["server_timing"]) == {"infer_ms"} and set(result["policy_timing"]) == {"infer_ms"}
        ws.send(spec_pack({**obs, "prompt": "fail"}))
        text = ws.recv()
        assert isinstance(text, str) and text.rstrip().endswith("ValueError: policy exploded on purpose")
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv()
        assert info.value.rcvd.code == 1011 and "Traceback included" in info.value.rcvd.reason
