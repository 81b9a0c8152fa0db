"""openpi's wire format: msgpack with numpy arrays and numpy scalars as tagged maps.

openpi (``openpi_client.msgpack_numpy``) sends an array as the map
``{b"__ndarray__": True, b"data": <raw bytes, C order>, b"dtype": dtype.str, b"shape": [..]}`` and a numpy scalar
that msgpack cannot pack natively as ``{b"__npgeneric__": True, b"data": <python value>, b"dtype": dtype.str}``.
Everything else is plain msgpack with the library defaults (``use_bin_type=True``, ``raw=False``), so ``str``
travels as str, ``bytes`` as bin, tuples come back as lists. Our encoder produces the same bytes as openpi's for the
same input (tests/policy/test_openpi_compat.py checks that against frames made by openpi's own code).

Two quirks of that format are kept on purpose, because changing them would change the bytes on the wire:
``np.float64`` / ``np.str_`` / ``np.bytes_`` are subclasses of Python types, so msgpack packs them natively and they
come back as ``float`` / ``str`` / ``bytes``; and decoded arrays are read-only views of the received buffer (openpi's
are too) - copy one before writing into it.

What we add over openpi is a refusal to trust the peer: the frame size is bounded, object/void/complex dtypes are
refused both ways (openpi refuses them when packing only), and a decoded array's ``shape * itemsize`` must match its
data length exactly, so a hostile or corrupt frame becomes one ``PolicyProtocolError`` line instead of a numpy
traceback or a huge allocation.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

from vifailback_demo.errors import PolicyProtocolError

# A three-camera 224x224 ALOHA observation is ~0.45 MB and a 1080p one ~19 MB; 64 MiB leaves room for larger
# rigs while a peer still cannot make us buffer gigabytes. openpi itself has no limit (max_size=None).
DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024

# Kinds openpi refuses to pack: object arrays would need pickle, void/structured and complex have no agreed layout.
_REFUSED_KINDS = {"O": "object", "V": "void/structured", "c": "complex"}
_MAX_NDIM = 32  # numpy allows 64; no robot observation comes near either
_MAX_DTYPE_CHARS = 32  # dtype.str is short ('<f4', '|u1', '<U12', '<M8[ns]'); a long one is garbage
_SCALAR_TYPES = (bool, int, float, str, bytes)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_dtype(dtype: np.dtype, where: str) -> None:
    if dtype.kind in _REFUSED_KINDS:
        raise PolicyProtocolError(
            f"{where}: dtype {dtype.str!r} ({_REFUSED_KINDS[dtype.kind]}) is not allowed in openpi's wire format; "
            "send numeric, bool or string arrays"
        )


def _encode_numpy(obj: Any) -> Any:
    """msgpack ``default`` hook: called only for objects msgpack cannot pack itself."""
    if isinstance(obj, np.ndarray):
        _check_dtype(obj.dtype, "cannot send array")
        # Key order matters for byte-identical frames: openpi builds the map in exactly this order.
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        _check_dtype(obj.dtype, "cannot send numpy scalar")
        item = obj.item()
        if not isinstance(item, _SCALAR_TYPES):
            # e.g. datetime64 -> datetime.datetime, which msgpack (and openpi's peer) cannot carry.
            raise PolicyProtocolError(
                f"cannot send numpy scalar of dtype {obj.dtype.str!r}: its value is not a plain number"
            )
        return {b"__npgeneric__": True, b"data": item, b"dtype": obj.dtype.str}
    if isinstance(obj, int):
        raise PolicyProtocolError(f"cannot send integer {_short(obj)}: msgpack carries 64-bit integers only")
    raise PolicyProtocolError(
        f"cannot send a {type(obj).__name__} in a policy frame; use dicts, lists, str, bytes, numbers and numpy arrays"
    )


def _parse_dtype(raw: Any) -> np.dtype:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", errors="replace")
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_DTYPE_CHARS:
        raise PolicyProtocolError(
            f"policy frame: array dtype must be a short dtype string like '<f4', got {_short(raw)}"
        )
    try:
        dtype = np.dtype(raw)
    except (TypeError, ValueError) as exc:
        raise PolicyProtocolError(f"policy frame: unknown dtype {raw!r} ({exc})") from None
    _check_dtype(dtype, "policy frame")
    if dtype.shape != () or dtype.fields is not None:
        raise PolicyProtocolError(f"policy frame: dtype {raw!r} is a sub-array or record dtype; send a plain dtype")
    if dtype.itemsize == 0:
        # '<U0' / '|S0': any shape fits zero bytes, so the size check below would prove nothing.
        raise PolicyProtocolError(f"policy frame: dtype {raw!r} has zero-sized items")
    return dtype


def _decode_array(obj: dict) -> np.ndarray:
    data, shape = obj.get(b"data"), obj.get(b"shape")
    dtype = _parse_dtype(obj.get(b"dtype"))
    if not isinstance(data, bytes):
        raise PolicyProtocolError(f"policy frame: array data must be bytes, got {type(data).__name__}")
    if (
        not isinstance(shape, list | tuple)
        or len(shape) > _MAX_NDIM
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise PolicyProtocolError(
            f"policy frame: array shape must be a list of at most {_MAX_NDIM} sizes >= 0, got {_short(shape)}"
        )
    expected = math.prod(shape) * dtype.itemsize
    if expected != len(data):
        raise PolicyProtocolError(
            f"policy frame: array of shape {tuple(shape)} and dtype {dtype.str!r} needs {expected} bytes, got {len(data)}"
        )
    # A view of the received bytes: no copy, read-only (as openpi's decoder).
    return np.ndarray(shape=tuple(shape), dtype=dtype, buffer=data)


def _decode_scalar(obj: dict) -> np.generic:
    dtype = _parse_dtype(obj.get(b"dtype"))
    value = obj.get(b"data")
    if not isinstance(value, _SCALAR_TYPES):
        raise PolicyProtocolError(f"policy frame: numpy scalar data must be a plain value, got {type(value).__name__}")
    try:
        return dtype.type(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise PolicyProtocolError(
            f"policy frame: {_short(value)} is not a valid {dtype.str!r} scalar ({exc})"
        ) from None


def _decode_numpy(obj: dict) -> Any:
    """msgpack ``object_hook``: runs on every decoded map, innermost first."""
    if b"__ndarray__" in obj:
        return _decode_array(obj)
    if b"__npgeneric__" in obj:
        return _decode_scalar(obj)
    return obj


def _refuse_ext(code: int, data: bytes) -> Any:
    raise PolicyProtocolError(f"policy frame: msgpack extension type {code} is not part of openpi's format")


def packb(obj: Any, *, max_frame_bytes: int | None = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """Encode ``obj`` as one openpi frame; raises PolicyProtocolError for unsendable values or an oversized frame."""
    try:
        frame = msgpack.packb(obj, default=_encode_numpy)
    except PolicyProtocolError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise PolicyProtocolError(f"cannot encode policy frame: {exc}") from None
    if max_frame_bytes is not None and len(frame) > max_frame_bytes:
        raise PolicyProtocolError(
            f"policy frame of {len(frame)} bytes exceeds the limit of {max_frame_bytes} bytes; "
            "send smaller images or raise max_frame_bytes on both ends"
        )
    return frame


def unpackb(frame: bytes | bytearray | memoryview, *, max_frame_bytes: int | None = DEFAULT_MAX_FRAME_BYTES) -> Any:
    """Decode one openpi frame; any malformed, oversized or disallowed content raises PolicyProtocolError."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise PolicyProtocolError(f"policy frame must be binary, got {type(frame).__name__}")
    if max_frame_bytes is not None and len(frame) > max_frame_bytes:
        raise PolicyProtocolError(f"policy frame of {len(frame)} bytes exceeds the limit of {max_frame_bytes} bytes")
    try:
        return msgpack.unpackb(frame, object_hook=_decode_numpy, ext_hook=_refuse_ext, raw=False)
    except PolicyProtocolError:
        raise
    except (msgpack.UnpackException, ValueError, TypeError) as exc:
        # ExtraData, FormatError, StackError (nesting), truncated input, non-UTF-8 str, unhashable map keys.
        detail = f": {_short(str(exc), 120)}" if str(exc) else ""
        raise PolicyProtocolError(f"policy frame is not valid msgpack ({type(exc).__name__}{detail})") from None
