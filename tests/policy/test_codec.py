"""The openpi msgpack codec: round trips, refusals both ways, bounded and validated decoding."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from vifailback_demo.errors import PolicyProtocolError
from vifailback_demo.policy.codec import DEFAULT_MAX_FRAME_BYTES, packb, unpackb


def _array_map(data: bytes, dtype: str, shape: list) -> bytes:
    return msgpack.packb({b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": shape})


def _one_line_error(frame: bytes) -> str:
    with pytest.raises(PolicyProtocolError) as info:
        unpackb(frame)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    return message


@pytest.mark.parametrize(
    "array",
    [
        np.arange(224 * 224 * 3, dtype=np.uint8).reshape(224, 224, 3),
        np.linspace(-1, 1, 14, dtype=np.float32),
        np.arange(12, dtype=np.float64).reshape(3, 4),
        np.array([-(2**63), 2**63 - 1], dtype=np.int64),
        np.array([2**64 - 1], dtype=np.uint64),
        np.array([True, False]),
        np.array(["a", "größe"]),
        np.array([b"ab", b"c"]),
        np.array([1.0, 2.0], dtype=">f8"),
        np.array(7, dtype=np.int16),
        np.zeros((0, 14), dtype=np.float32),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(20, dtype=np.int32)[::4],
    ],
    ids=lambda a: f"{a.dtype.str}{a.shape}",
)
def test_array_round_trip_keeps_dtype_shape_and_values(array):
    back = unpackb(packb({"x": array}))["x"]
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_decoded_arrays_are_read_only_views_like_openpi():
    back = unpackb(packb({"x": np.zeros(3)}))["x"]
    assert not back.flags.writeable
    with pytest.raises(ValueError):
        back[0] = 1.0


def test_scalars_and_plain_values():
    value = {
        "i": np.int64(-7),
        "u": np.uint8(200),
        "f32": np.float32(0.5),
        "b": np.bool_(False),
        "f64": np.float64(2.5),  # a float subclass: packed natively, returns a float (as in openpi)
        "t": (1, "two"),
        "raw": b"\x00\xff",
        "none": None,
        "nested": [{"deep": np.int8(-1)}],
    }
    back = unpackb(packb(value))
    assert type(back["i"]) is np.int64 and back["i"] == -7
    assert type(back["u"]) is np.uint8 and back["u"] == 200
    assert type(back["f32"]) is np.float32 and back["f32"] == 0.5
    assert type(back["b"]) is np.bool_ and not back["b"]
    assert type(back["f64"]) is float and back["f64"] == 2.5
    assert back["t"] == [1, "two"] and back["raw"] == b"\x00\xff" and back["none"] is None
    assert type(back["nested"][0]["deep"]) is np.int8


@pytest.mark.parametrize(
    "value",
    [
        np.array([1 + 2j]),
        np.complex64(1j),
        np.array([object()], dtype=object),
        np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]),
        np.void(b"ab"),
        np.datetime64("2020-01-01"),
        {1, 2},
        object(),
        2**70,
    ],
    ids=[
        "complex-array",
        "complex-scalar",
        "object",
        "structured",
        "void",
        "datetime-scalar",
        "set",
        "object()",
        "bigint",
    ],
)
def test_encoder_refuses_what_openpi_cannot_carry(value):
    with pytest.raises(PolicyProtocolError) as info:
        packb({"x": value})
    assert "\n" not in str(info.value)


def test_encoder_bounds_the_frame_size():
    image = np.zeros((224, 224, 3), np.uint8)
    assert len(packb({"image": image}, max_frame_bytes=200_000)) > 150_528
    with pytest.raises(PolicyProtocolError, match="exceeds the limit of 100000 bytes"):
        packb({"image": image}, max_frame_bytes=100_000)
    assert (
        len(packb({"big": np.zeros(DEFAULT_MAX_FRAME_BYTES // 8 + 1)}, max_frame_bytes=None)) > DEFAULT_MAX_FRAME_BYTES
    )


def test_decoder_bounds_the_frame_size():
    frame = packb({"image": np.zeros((100, 100, 3), np.uint8)})
    assert unpackb(frame, max_frame_bytes=len(frame))["image"].shape == (100, 100, 3)
    with pytest.raises(PolicyProtocolError, match="exceeds the limit"):
        unpackb(frame, max_frame_bytes=len(frame) - 1)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (_array_map(b"abc", "<f4", [1]), "needs 4 bytes, got 3"),
        (_array_map(b"\x00" * 8, "<f4", [1]), "needs 4 bytes, got 8"),
        (_array_map(b"", "<f4", [2**40, 2**40]), "needs"),  # a huge claimed shape must not allocate
        (_array_map(b"abcd", "|O", [1]), "object"),
        (_array_map(b"abcdabcd", "<c8", [1]), "complex"),
        (_array_map(b"abcd", "f2,f2", [1]), "void/structured"),
        (_array_map(b"abcd" * 2, "(2,)f4", [1]), "void/structured"),
        (_array_map(b"", "<U0", [1000]), "zero-sized"),
        (_array_map(b"abcd", "not-a-dtype", [1]), "unknown dtype"),
        (_array_map(b"abcd", "<f4" * 20, [1]), "short dtype string"),
        (_array_map(b"abcd", "<f4", [-1]), "shape"),
        (_array_map(b"abcd", "<f4", [True]), "shape"),
        (_array_map(b"abcd", "<f4", "4"), "shape"),
        (_array_map(b"a", "|u1", [1] * 33), "shape"),
        (_array_map("abcd", "<f4", [1]), "data must be bytes"),
        (msgpack.packb({b"__npgeneric__": True, b"data": 2**63, b"dtype": "<i8"}), "not a valid '<i8' scalar"),
        (msgpack.packb({b"__npgeneric__": True, b"data": [1], b"dtype": "<i8"}), "plain value"),
        (msgpack.packb({b"__npgeneric__": True, b"data": 1, b"dtype": "|O"}), "object"),
        (msgpack.packb(msgpack.ExtType(5, b"x")), "extension type 5"),
        (b"\x81\xa1a", "incomplete"),
        (b"\xc1", "FormatError"),
        (b"\x91" * 100_000, "StackError"),
        (msgpack.packb({1: 2}), "map key"),
        (msgpack.packb([1]) + b"\x00", "ExtraData"),
    ],
)
def test_decoder_refuses_malformed_frames_with_one_line(frame, expected):
    assert expected in _one_line_error(frame)


def test_decoder_refuses_text():
    with pytest.raises(PolicyProtocolError, match="must be binary"):
        unpackb("not bytes")  # type: ignore[arg-type]


def test_random_arrays_round_trip():
    rng = np.random.default_rng(0)
    for dtype in ("|u1", "<i2", "<i4", "<i8", "<u4", "<f2", "<f4", "<f8", "|b1", ">i4"):
        for _ in range(5):
            shape = tuple(rng.integers(0, 5, size=rng.integers(0, 4)))
            array = rng.integers(0, 100, size=shape).astype(dtype)
            back = unpackb(packb(array))
            assert back.dtype.str == dtype and back.shape == shape
            np.testing.assert_array_equal(back, array)
