"""Odd calls through the launched app's API: they warn or refuse in one line and change nothing.

- "Warn and change nothing" handlers (reject/skip after accept, place/undo/delete before a run or with a bad
  coordinate or row) must not fail with gradio's "didn't return enough output values": every output is skipped.
- Huge or non-finite numbers (hundreds of digits, 1e999, NaN, 10**30) in every numeric field a client can send get
  a line naming the field and its range, never a raw OverflowError or SQLite message. Real ``Infinity``/``NaN``
  JSON tokens are sent too (``nonfinite_json``): httpx refuses to encode them, a hand-written client does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx._content
import pytest
from gradio_client import handle_file

from tests.ui.helpers import call, make_services, start_app
from vifailback_demo.editing import COLUMNS
from vifailback_demo.imageio import read_image_rgb
from vifailback_demo.ui.corrections_handlers import OPEN_OUTPUTS

LOW = "Move the right gripper to the left significantly."
SKIPPED = {"__type__": "update"}
RAW = ("OverflowError", "too large to convert", "Traceback", "SQLite", "sqlite3", "didn't return enough")
HUGE = [10**300, "1" * 400, 10**30, "1e999", "-1e999", "NaN", "Infinity", float("inf"), float("nan")]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple]:
    services = make_services(tmp_path / "data")
    demo, client = start_app(services)
    yield services, client
    demo.close()
    services.close()


@pytest.fixture
def nonfinite_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let gradio_client send float('inf') / float('nan') as the JSON tokens Infinity / NaN."""
    dumps = httpx._content.json_dumps
    monkeypatch.setattr(httpx._content, "json_dumps", lambda obj, **kw: dumps(obj, **{**kw, "allow_nan": True}))


def diagnose(client) -> tuple[tuple, tuple[int, int]]:
    """Run the bundled gripper_state example: (the outputs, the keyframe picture's (width, height))."""
    (video, task, *_), _ = call(client, "gripper_state", api_name="/pick_example")
    out, _ = call(client, handle_file(video), task, "avoidance", api_name="/diagnose")
    assert isinstance(out, tuple), out
    h, w = read_image_rgb(out[3]).shape[:2]
    return out, (w, h)


def fields(**changes) -> list:
    values = {"success": "Failed", "keyframe": 4, "failure_type": "gripper state",
              "subtasks": "Reach the block.\nClose the gripper.", "failed_subtask": 2, "reason": "It slipped.",
              "low_level": LOW, "high_level": "Grasp it."}  # fmt: skip
    values.update(changes)
    return list(values.values())


def place(client, x, y, tool: str = "crosshair") -> tuple[object, list[str]]:
    return call(client, 4, tool, [], "clockwise", "ON", LOW, x, y, api_name="/place_symbol")


def rows_after_a_valid_place(client, size: tuple[int, int]) -> list:
    """The symbol table as the session holds it, read by placing one crosshair (the call returns the table)."""
    out, _ = place(client, size[0] / 2, size[1] / 2)
    assert isinstance(out, tuple), out
    rows = out[1]["data"]
    assert rows[-1][:3] == ["crosshair", 500, 500]
    return rows[:-1]


def one_line(text: str, *needles: str) -> None:
    assert "\n" not in text and len(text) < 400, text
    assert all(n in text for n in needles), (needles, text)
    assert not any(r in text for r in RAW), text


def test_warn_only_calls_change_nothing_and_do_not_fail(app) -> None:
    services, client = app
    for api_name, args in (("/undo", (1, LOW)), ("/clear", (1, LOW)), ("/delete_symbol", (1, LOW, 1))):
        out, shown = call(client, *args, api_name=api_name)
        assert out == (SKIPPED,) * 4, (api_name, out)  # 5 outputs, the state is not sent to clients
        assert any("Run a diagnosis first" in s for s in shown), (api_name, shown)
    out, shown = place(client, 10, 10)
    assert out == (SKIPPED,) * 4 and any("Run a diagnosis first" in s for s in shown), (out, shown)

    out, (w, h) = diagnose(client)
    before = out[4]["data"]
    for x, y, needle in ((None, 10, "Give both x and y"), (10, None, "Give both x and y"),
                         (w + 1, 10, f"x: expected a number of pixels in 0..{w}"),
                         (10, -1, f"y: expected a number of pixels in 0..{h}")):  # fmt: skip
        out, shown = place(client, x, y)
        assert out == (SKIPPED,) * 4, out
        assert len(shown) == 1, shown
        one_line(shown[0], needle)
    out, shown = call(client, 4, LOW, 10**30, api_name="/delete_symbol")
    assert out == (SKIPPED,) * 4 and len(shown) == 1, (out, shown)
    one_line(shown[0], "row", f"1..{len(before)}")
    assert rows_after_a_valid_place(client, (w, h)) == before, "a refused call changed the symbols"

    (message, _), _ = call(client, *fields(), api_name="/accept_anyway")
    record_id = int(message.split("#")[1].split("*")[0])
    for api_name in ("/reject", "/skip"):
        out, shown = call(client, api_name=api_name)
        assert out == (SKIPPED, SKIPPED), (api_name, out)  # decision message and VQA keep their values
        assert any(f"already stored as correction #{record_id} (accepted); nothing changed" in s for s in shown)
    assert services.corrections.get(record_id).decision == "accepted"
    assert services.corrections.store.stats()["by_decision"] == {"accepted": 1}


@pytest.mark.usefixtures("nonfinite_json")
def test_huge_and_non_finite_numbers_get_one_line_naming_field_and_range(app) -> None:
    services, client = app
    out, (w, h) = diagnose(client)
    table = out[4]["data"]
    for value in HUGE:
        cells = ["crosshair", value, 500, None, None, None, None]
        edited, shown = call(client, 4, LOW, {"headers": list(COLUMNS), "data": [cells]}, api_name="/edit_symbols")
        assert isinstance(edited, tuple) and edited[1]["data"] == table, (value, edited)  # the table was restored
        assert len(shown) == 1, (value, shown)
        one_line(shown[0], "table row 1: x1: expected a number in 0..1000")

        placed, shown = place(client, value, 10)
        assert placed == (SKIPPED,) * 4 and len(shown) == 1, (value, placed, shown)
        one_line(shown[0], f"x: expected a number of pixels in 0..{w}")

        deleted, shown = call(client, 4, LOW, value, api_name="/delete_symbol")
        assert deleted == (SKIPPED,) * 4 and len(shown) == 1, (value, deleted, shown)
        one_line(shown[0], "row", f"1..{len(table)}")

        for name, expected in (("keyframe", "keyframe: expected a whole number in 1..10"),
                               ("failed_subtask", "failed subtask: expected a whole number in 1..2")):  # fmt: skip
            error, _ = call(client, *fields(**{name: value}), api_name="/accept_anyway")
            assert isinstance(error, Exception), (name, value, error)
            one_line(str(error), expected)

        for api_name, args in (("/reopen", (value,)), ("/mark_reviewed", (value, "any", "any", "any", ""))):
            error, _ = call(client, *args, api_name=api_name)
            assert isinstance(error, Exception), (api_name, value, error)
            one_line(str(error), "record id: expected a whole number in 1..9223372036854775807")
    assert rows_after_a_valid_place(client, (w, h)) == table
    assert services.corrections.store.count() == 0, "a refused accept stored something"


def test_a_valid_accept_reopen_and_review_still_work_after_the_checks(app) -> None:
    services, client = app
    diagnose(client)
    (message, _), _ = call(client, *fields(keyframe=3.0), api_name="/accept_anyway")  # 3.0 is a whole number
    record_id = int(message.split("#")[1].split("*")[0])
    assert services.corrections.get(record_id).final.keyframe == 3
    reopened, _ = call(client, str(record_id), api_name="/reopen")
    names = [n for n in OPEN_OUTPUTS if not n.endswith("_state")]  # states are not sent to clients
    assert isinstance(reopened, tuple) and reopened[names.index("keyframe")] == 3, reopened
    listed, _ = call(client, record_id, "any", "any", "any", "", api_name="/mark_reviewed")
    assert isinstance(listed, tuple) and f"Marked #{record_id} reviewed" in listed[2], listed
    assert listed[0]["data"][0][0] == record_id and listed[0]["data"][0][3] == "reviewed"


def test_an_unexpected_error_reaches_the_client_as_a_fixed_line_not_the_raw_message(app, monkeypatch, caplog) -> None:
    """A bug below the UI (here: the store's driver overflowing) is logged with its traceback, not shown."""
    services, client = app

    def overflow(record_id: int):
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    monkeypatch.setattr(services.corrections, "get", overflow)
    error, _ = call(client, 5, api_name="/reopen")
    assert isinstance(error, Exception), error
    one_line(str(error), "Something went wrong on the server")
    assert "too large to convert to SQLite" in caplog.text, "the log keeps the details"


def test_a_malformed_payload_gets_no_raw_python_message(app) -> None:
    """Gradio's own processing around a handler fails too on garbage; what it raised stays in the server log."""
    _, client = app
    for payload in ({"headers": list(COLUMNS), "data": "not rows"}, {"data": [[{"x": 1}]]}, 7):
        error, _ = call(client, 4, LOW, payload, api_name="/edit_symbols")
        assert isinstance(error, Exception), error
        assert not any(r in str(error) for r in (*RAW, "Original error", "validation error", "pydantic")), error
