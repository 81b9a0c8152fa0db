"""vifailback-serial/1 framing and encoding: pure functions and the line reader over pyserial's ``loop://``."""

from __future__ import annotations

import json
import time

import pytest
import serial

from vifailback_demo.errors import RobotProtocolError
from vifailback_demo.robot.serial_protocol import (
    CODE_BAD_REQUEST,
    CODE_UNKNOWN_OP,
    MAX_ERROR_CHARS,
    MAX_ID,
    MAX_LINE_BYTES,
    PROTOCOL,
    BadRequest,
    LineReader,
    decode_reply,
    decode_request,
    encode_error,
    encode_line,
    encode_reply,
    encode_request,
    number_list,
    parse_hello,
)


# ---- encoding ------------------------------------------------------------------------------------------------------
def test_request_round_trip_is_one_compact_ascii_line():
    line = encode_request(7, "act", action=[0.5, -1.25, 3])
    assert line == b'{"id":7,"op":"act","action":[0.5,-1.25,3]}\n'
    req = decode_request(line.rstrip(b"\n"))
    assert (req.id, req.op, req.fields) == (7, "act", {"action": [0.5, -1.25, 3]})


def test_floats_survive_exactly_and_non_ascii_is_escaped():
    value = 0.1 + 0.2  # needs all 17 digits
    line = encode_reply(3, state=[value], name="bras-gauche-é")
    assert line.isascii() and line.count(b"\n") == 1
    reply = decode_reply(line)
    assert reply is not None and reply.fields["state"][0] == value and reply.fields["name"] == "bras-gauche-é"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_refused_rather_than_sent_as_invalid_json(bad):
    with pytest.raises(RobotProtocolError, match="cannot encode"):
        encode_request(1, "act", action=[0.0, bad])


@pytest.mark.parametrize("req_id", [0, -1, True, 1.0, "3", MAX_ID + 1, None])
def test_request_ids_must_be_positive_int32(req_id):
    with pytest.raises(RobotProtocolError, match="request id"):
        encode_request(req_id, "observe")


def test_a_line_over_the_limit_is_refused_before_it_is_sent():
    with pytest.raises(RobotProtocolError, match="longer than the limit"):
        encode_request(1, "act", action=[0.123456789] * (MAX_LINE_BYTES // 10))
    assert len(encode_line({"x": "a" * (MAX_LINE_BYTES - 8)})) == MAX_LINE_BYTES + 1  # exactly at the limit, + "\n"
    with pytest.raises(RobotProtocolError):
        encode_line({"x": "a" * (MAX_LINE_BYTES - 7)})


def test_error_replies_are_one_line_and_bounded():
    line = encode_error(None, "first line\nsecond\tline  " + "x" * 5000, code=CODE_BAD_REQUEST)
    obj = json.loads(line)
    assert obj["id"] is None and obj["ok"] is False and obj["code"] == CODE_BAD_REQUEST
    assert obj["error"].startswith("first line second line x") and len(obj["error"]) == MAX_ERROR_CHARS
    assert obj["error"].endswith("...")


# ---- decoding, controller side --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "req_id", "code", "match"),
    [
        (b"\x00\xffgarbage", None, CODE_BAD_REQUEST, "not a JSON object"),
        (b"[1, 2]", None, CODE_BAD_REQUEST, "not a JSON object"),
        (b"[" * 100_000, None, CODE_BAD_REQUEST, "not a JSON object"),  # deep nesting must not crash the reader
        (b'{"op": "hello"}', None, CODE_BAD_REQUEST, "integer 'id'"),
        (b'{"id": true, "op": "hello"}', None, CODE_BAD_REQUEST, "integer 'id'"),
        (b'{"id": 4, "op": 5}', 4, CODE_BAD_REQUEST, "string 'op'"),
        (b'{"id": 4, "op": "dance"}', 4, CODE_UNKNOWN_OP, "unknown op 'dance'"),
    ],
)
def test_bad_requests_keep_the_id_when_it_was_readable(line, req_id, code, match):
    with pytest.raises(BadRequest, match=match) as info:
        decode_request(line)
    assert (info.value.req_id, info.value.code) == (req_id, code)


# ---- decoding, host side --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"booting v1.2 ...",
        b"\xfe\xff\x00",
        b"{truncated",
        b"42",
        b'{"log": "motor 3 warm"}',  # a structured log line: no id
        b'{"id": 5, "op": "observe"}',  # our own request echoed back
    ],
)
def test_lines_that_are_not_replies_are_skippable(line):
    assert decode_reply(line) is None


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b'{"id": "5", "ok": true}', "reply id"),
        (b'{"id": 0, "ok": true}', "reply id"),
        (b'{"id": 5, "ok": "yes"}', "'ok' must be"),
        (b'{"id": 5}', "'ok' must be"),
        (b'{"id": 5, "ok": false}', "needs an 'error'"),
    ],
)
def test_malformed_replies_are_protocol_errors_not_silence(line, match):
    with pytest.raises(RobotProtocolError, match=match):
        decode_reply(line)


def test_reply_fields_are_split_from_the_envelope():
    reply = decode_reply(b'{"id": 9, "ok": false, "error": "too far", "code": "robot_error", "extra": 1}')
    assert reply is not None
    assert (reply.id, reply.ok, reply.error, reply.code, reply.fields) == (
        9,
        False,
        "too far",
        "robot_error",
        {"extra": 1},
    )
    null = decode_reply(encode_error(None, "garbled"))
    assert null is not None and null.id is None and null.error == "garbled"


# ---- hello and numeric fields ---------------------------------------------------------------------------------------
def test_a_minimal_hello_gets_generated_names_and_defaults():
    hello = parse_hello({"protocol": PROTOCOL, "state_dim": 2, "action_dim": 1, "firmware": "v3"})
    assert (hello.state_names, hello.action_names) == (["state.0", "state.1"], ["action.0"])
    assert (hello.name, hello.action_space, hello.stopped) == (None, "joint", False)
    assert hello.fields["firmware"] == "v3"  # unknown fields are kept, not refused
    named = parse_hello({"protocol": PROTOCOL, "state_dim": 0, "action_dim": 1, "name": "  arm  ", "stopped": True})
    assert (named.name, named.stopped, named.state_names) == ("arm", True, [])


def test_number_lists_must_be_exact_and_finite():
    assert number_list({"state": [1, 2.5]}, "state", 2) == [1.0, 2.5]
    for bad in ([1.0], [1.0, True], [1.0, "2"], None, [1.0, float("nan")], [float("-inf"), 0]):
        with pytest.raises(RobotProtocolError, match="state"):
            number_list({"state": bad}, "state", 2)


# ---- framing over loop:// -------------------------------------------------------------------------------------------
@pytest.fixture
def loop():
    port = serial.serial_for_url("loop://", timeout=0.02, write_timeout=0.5)
    yield port
    port.close()


def _reader(port, max_line=MAX_LINE_BYTES):
    return LineReader(lambda wait: port.read(port.in_waiting or 1), max_line)


def test_loop_lines_split_across_writes_and_crlf(loop):
    reader = _reader(loop)
    loop.write(b'{"id":1,"ok":true}\r\n{"id":2,')
    assert reader.readline(time.monotonic() + 1) == b'{"id":1,"ok":true}'
    assert reader.readline(time.monotonic() + 0.1) is None  # half a line is not a line
    loop.write(b'"ok":true}\n\n')
    assert reader.readline(time.monotonic() + 1) == b'{"id":2,"ok":true}'
    assert reader.readline(time.monotonic() + 1) == b""  # an empty line is a line (the caller skips it)


def test_loop_request_reply_round_trip(loop):
    reader = _reader(loop)
    loop.write(encode_request(12, "observe"))
    req = decode_request(reader.readline(time.monotonic() + 1))
    loop.write(encode_reply(req.id, state=[1.5, 2.5], t=0.25))
    reply = decode_reply(reader.readline(time.monotonic() + 1))
    assert reply is not None and reply.id == 12 and reply.fields == {"state": [1.5, 2.5], "t": 0.25}


def test_loop_over_long_line_is_dropped_and_the_next_line_read(loop):
    reader = _reader(loop, max_line=32)
    loop.write(b"x" * 100 + b"\n" + b'{"id":3,"ok":true}\n')
    assert reader.readline(time.monotonic() + 1) == b'{"id":3,"ok":true}'
    assert reader.dropped == 1


def test_over_long_line_arriving_in_pieces_is_dropped_whole_with_bounded_memory():
    chunks = [b"y" * 20 for _ in range(50)] + [b"y\nshort\n"]
    buffered = []

    def read_chunk(wait):
        buffered.append(len(reader._buf))  # what the reader holds between reads
        return chunks.pop(0) if chunks else b""

    reader = LineReader(read_chunk, max_line=32)
    assert reader.readline(time.monotonic() + 1) == b"short"  # the tail "y" of the long line is not a line
    assert reader.dropped == 1 and max(buffered) <= 32


def test_a_line_exactly_at_the_limit_is_kept(loop):
    reader = _reader(loop, max_line=32)
    loop.write(b"z" * 32 + b"\n")
    assert reader.readline(time.monotonic() + 1) == b"z" * 32
    assert reader.dropped == 0


def test_readline_gives_up_at_the_deadline(loop):
    reader = _reader(loop)
    loop.write(b"partial line without end")
    t0 = time.monotonic()
    assert reader.readline(t0 + 0.2) is None
    assert 0.2 <= time.monotonic() - t0 < 0.6
