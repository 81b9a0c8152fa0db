"""The serial robot protocol ``vifailback-serial/1``: framing, encoding and decoding, with no I/O of its own.

One JSON object per line, ``\\n``-terminated (a ``\\r`` before it is tolerated, so firmware may use ``println``).
A request is ``{"id": N, "op": OP, ...}``; a reply is ``{"id": N, "ok": true, ...}`` or ``{"id": N, "ok": false,
"error": "...", "code": "..."}``. The full specification, with examples, is ``docs/serial-protocol.md``.

Why line-delimited JSON rather than a binary frame: a lab can talk to its controller from any serial terminal, a
firmware can emit it with ``printf``, and a line that is not a reply (a boot banner, a log line, noise after a
reset) is recognisable and skippable, which is how both ends resynchronise after garbage.

Everything here is pure (bytes in, values out) except :class:`LineReader`, which splits a byte stream into bounded
lines over any ``read_chunk(max_wait_s) -> bytes`` callable, so it works over pyserial ports (including
``loop://``) and over raw pty file descriptors alike.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vifailback_demo.errors import RobotProtocolError

#: The protocol name and major version; both ends refuse any other (see "Versioning" in the spec).
PROTOCOL = "vifailback-serial/1"
#: Longest line either end accepts, newline excluded. Longer lines are discarded up to their newline: a bound keeps
#: a runaway or binary stream from growing the buffer without limit, and 64 KiB fits thousands of numbers.
MAX_LINE_BYTES = 64 * 1024
#: Ids are positive and fit a signed 32-bit integer, so a C firmware can parse them into an ``int32_t``.
MAX_ID = 2**31 - 1
#: Largest state or action vector a controller may announce.
MAX_DIM = 4096
#: Longest error text either end sends; longer messages are cut (an error must stay one readable line).
MAX_ERROR_CHARS = 1000

OPS = ("hello", "observe", "act", "hold", "stop", "reset")

# Error codes in ``ok: false`` replies. ``code`` is optional for a controller; the host maps it to an exception type.
CODE_BAD_REQUEST = "bad_request"  # the request line was not valid JSON / had no usable id / a field was wrong
CODE_UNKNOWN_OP = "unknown_op"  # the controller does not implement this op
CODE_STOPPED = "stopped"  # the controller is emergency-stopped and refuses to move
CODE_TIMEOUT = "timeout"  # the controller's own hardware (motor bus, driver) did not answer in time
CODE_ROBOT_ERROR = "robot_error"  # the robot refused or failed (limits, hardware fault)
CODE_INTERNAL = "internal"  # a bug or unexpected failure inside the controller


@dataclass(frozen=True)
class Request:
    id: int
    op: str
    fields: dict[str, Any] = field(default_factory=dict)  # everything except id and op


@dataclass(frozen=True)
class Reply:
    id: int | None  # None: the controller could not tell which request this answers (a garbled line)
    ok: bool
    error: str | None = None
    code: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # everything except id, ok, error, code


class BadRequest(RobotProtocolError):
    """A request line a controller cannot serve; ``req_id`` is its id when that much was readable, else None."""

    def __init__(self, message: str, req_id: int | None = None, code: str = CODE_BAD_REQUEST) -> None:
        super().__init__(message)
        self.req_id = req_id
        self.code = code


# ---- encoding ------------------------------------------------------------------------------------------------------
def encode_line(obj: dict[str, Any]) -> bytes:
    """One compact ASCII JSON line (non-ASCII escaped, so a firmware never has to decode UTF-8)."""
    try:
        text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    except ValueError as exc:  # NaN / Infinity have no JSON spelling; the peer could not parse them
        raise RobotProtocolError(f"cannot encode a protocol line: {exc}") from None
    except TypeError as exc:
        raise RobotProtocolError(f"cannot encode a protocol line: {exc}") from None
    data = text.encode("ascii")
    if len(data) > MAX_LINE_BYTES:
        raise RobotProtocolError(
            f"a protocol line of {len(data)} bytes is longer than the limit of {MAX_LINE_BYTES} bytes"
        )
    return data + b"\n"


def valid_id(value: Any) -> bool:
    # bool is an int in Python but `true` is not an id
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def encode_request(req_id: int, op: str, **fields: Any) -> bytes:
    if not valid_id(req_id):
        raise RobotProtocolError(f"a request id must be an integer in 1..{MAX_ID}, got {req_id!r}")
    if not isinstance(op, str) or not op:
        raise RobotProtocolError(f"an op must be a non-empty string, got {op!r}")
    return encode_line({"id": req_id, "op": op, **fields})


def encode_reply(req_id: int | None, **fields: Any) -> bytes:
    return encode_line({"id": req_id, "ok": True, **fields})


def encode_error(req_id: int | None, message: str, code: str = CODE_ROBOT_ERROR) -> bytes:
    text = " ".join(str(message).split())  # one line, whatever the exception text looked like
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return encode_line({"id": req_id, "ok": False, "error": text or "error", "code": code})


# ---- decoding ------------------------------------------------------------------------------------------------------
def _load_object(line: bytes) -> dict[str, Any] | None:
    """The JSON object on a line, or None when the line is not one (junk, a log line, noise)."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def decode_request(line: bytes) -> Request:
    """A controller's view of one line. Raises :class:`BadRequest` (with the id when it was readable)."""
    obj = _load_object(line)
    if obj is None:
        raise BadRequest(f"not a JSON object: {_preview(line)}")
    req_id = obj.get("id")
    if not valid_id(req_id):
        raise BadRequest(f"a request needs an integer 'id' in 1..{MAX_ID}, got {req_id!r}")
    op = obj.get("op")
    if not isinstance(op, str):
        raise BadRequest(f"a request needs a string 'op', got {op!r}", req_id)
    if op not in OPS:
        raise BadRequest(f"unknown op {op!r}; this controller knows {list(OPS)}", req_id, CODE_UNKNOWN_OP)
    return Request(req_id, op, {k: v for k, v in obj.items() if k not in ("id", "op")})


def decode_reply(line: bytes) -> Reply | None:
    """A host's view of one line: a :class:`Reply`, or None for a line that is not a reply at all.

    Not a reply (skipped by the host, see the resync rules): anything that is not a JSON object, an object without
    ``id`` (a structured log line) and an object with ``op`` but no ``ok`` (our own request echoed back by a
    controller whose terminal echo is on). An object that has ``id`` and ``ok`` but wrong types is a protocol error:
    the controller meant to reply and got it wrong, and hiding that would turn it into a confusing timeout.
    """
    obj = _load_object(line)
    if obj is None or "id" not in obj or ("ok" not in obj and "op" in obj):
        return None
    req_id, ok = obj["id"], obj.get("ok")
    if req_id is not None and not valid_id(req_id):
        raise RobotProtocolError(f"a reply id must be an integer in 1..{MAX_ID} or null, got {req_id!r}")
    if not isinstance(ok, bool):
        raise RobotProtocolError(f"reply {req_id}: 'ok' must be true or false, got {ok!r}")
    error, code = obj.get("error"), obj.get("code")
    if not ok and not isinstance(error, str):
        raise RobotProtocolError(f"reply {req_id}: an 'ok: false' reply needs an 'error' string, got {error!r}")
    rest = {k: v for k, v in obj.items() if k not in ("id", "ok", "error", "code")}
    return Reply(req_id, ok, error if isinstance(error, str) else None, code if isinstance(code, str) else None, rest)


@dataclass(frozen=True)
class Hello:
    """A controller's ``hello``, checked: what the host builds its features from."""

    name: str | None
    state_names: list[str]
    action_names: list[str]
    action_space: str  # "joint" or "ee"
    stopped: bool
    fields: dict[str, Any]  # the whole reply, unknown fields included (for ``robot check``)


def parse_hello(fields: dict[str, Any]) -> Hello:
    """Check a ``hello`` reply's fields; a wrong protocol or shape is one :class:`RobotProtocolError` line."""
    got = fields.get("protocol")
    if got != PROTOCOL:
        raise RobotProtocolError(f"the controller speaks {got!r}, expected {PROTOCOL!r} (see docs/serial-protocol.md)")
    state_names = _names(fields, "state_names", _dim(fields, "state_dim", 0), "state")
    action_names = _names(fields, "action_names", _dim(fields, "action_dim", 1), "action")
    space = fields.get("action_space", "joint")
    if space not in ("joint", "ee"):
        raise RobotProtocolError(f"hello 'action_space' must be 'joint' or 'ee', got {space!r}")
    name = fields.get("name")
    name = name.strip()[:64] if isinstance(name, str) and name.strip() else None
    return Hello(name, state_names, action_names, space, fields.get("stopped") is True, dict(fields))


def _dim(fields: dict[str, Any], key: str, low: int) -> int:
    value = fields.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_DIM:
        raise RobotProtocolError(f"hello {key!r} must be an integer in {low}..{MAX_DIM}, got {value!r}")
    return value


def _names(fields: dict[str, Any], key: str, dim: int, prefix: str) -> list[str]:
    names = fields.get(key)
    if names is None:  # names are optional: a minimal firmware only counts
        return [f"{prefix}.{i}" for i in range(dim)]
    if (
        not isinstance(names, list)
        or len(names) != dim
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) != dim
    ):
        raise RobotProtocolError(f"hello {key!r} must be {dim} distinct non-empty strings, got {str(names)[:200]}")
    return list(names)


def number_list(fields: dict[str, Any], key: str, dim: int) -> list[float]:
    """``fields[key]`` as ``dim`` finite floats (a state, an action echo), else a :class:`RobotProtocolError`."""
    values = fields.get(key)
    if not (
        isinstance(values, list)
        and len(values) == dim
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ):
        raise RobotProtocolError(f"reply field {key!r} must be {dim} numbers, got {str(values)[:120]}")
    out = [float(v) for v in values]
    bad = [i for i, v in enumerate(out) if not math.isfinite(v)]  # the decoder accepts NaN; a state must not
    if bad:
        raise RobotProtocolError(f"reply {key}[{bad[0]}] is not finite")
    return out


def _preview(line: bytes, n: int = 60) -> str:
    text = repr(line[:n])
    return text + ("..." if len(line) > n else "")


# ---- framing -------------------------------------------------------------------------------------------------------
class LineReader:
    """Splits a byte stream into lines of at most ``max_line`` bytes.

    ``read_chunk(max_wait_s)`` returns whatever bytes are available, waiting at most about ``max_wait_s`` (an empty
    result just means nothing came yet). An over-long line is dropped whole, up to its newline, and counted in
    ``dropped``: the reader never holds more than ``max_line`` bytes of an unfinished line.
    """

    def __init__(self, read_chunk: Callable[[float], bytes], max_line: int = MAX_LINE_BYTES) -> None:
        self._read_chunk = read_chunk
        self._max = max_line
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no newline (avoids rescanning a long partial line)
        self._discarding = False  # inside an over-long line: throw bytes away until its newline
        self.dropped = 0

    def clear(self) -> None:
        """Forget any partial line (after flushing the port underneath)."""
        self._buf.clear()
        self._scanned = 0
        self._discarding = False

    def readline(self, deadline: float) -> bytes | None:
        """The next complete line without its ``\\n`` / ``\\r\\n``, or None once ``time.monotonic()`` passes
        ``deadline``. Lines already buffered are returned even after the deadline."""
        while True:
            line = self._take_line()
            if line is not None:
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            chunk = self._read_chunk(left)
            if chunk:
                self._buf += chunk

    def _take_line(self) -> bytes | None:
        while True:
            nl = self._buf.find(b"\n", self._scanned)
            if nl < 0:
                if len(self._buf) > self._max:  # no newline within the limit: drop it and skip to the next one
                    if not self._discarding:
                        self.dropped += 1
                    self._discarding = True
                    self._buf.clear()
                self._scanned = len(self._buf)
                return None
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            self._scanned = 0
            if self._discarding:  # this was the tail of an over-long line
                self._discarding = False
                continue
            if len(line) > self._max:  # arrived in one chunk together with its newline
                self.dropped += 1
                continue
            return line[:-1] if line.endswith(b"\r") else line
