"""Huge, infinite or malformed numbers: one symbol is refused with a clear message; nothing else is lost.

``math.isfinite`` raises OverflowError on an int too large for a float, ``str`` raises ValueError on an int of
over 4300 digits, and a list where a string belongs raises TypeError in a dict lookup. None of these may escape:
model text gets a problem for the one symbol, human input a :class:`SymbolError` naming the field and its range.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vifailback_demo.cli.main import main
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.symbol_codec import parse_visual_prompts, symbol_from_code, symbols_from_code
from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    RotatingArrow,
    StraightArrow,
    as_point,
    check_symbols,
    is_number,
    safe_repr,
    to_pixels,
)
from vifailback_demo.errors import SymbolError
from vifailback_demo.imageio import write_image_rgb

HUGE = 10**400
OVER_STR_LIMIT = 10**5000  # str() refuses ints over 4300 digits


@pytest.mark.parametrize(
    "value",
    [HUGE, -HUGE, OVER_STR_LIMIT, float("inf"), float("nan"), 1e300, True, "5", None],
    ids=["huge", "-huge", "over-str-limit", "inf", "nan", "1e300", "bool", "str", "none"],
)
def test_is_number_answers_without_raising(value):
    assert is_number(value) is False


def test_as_point_names_the_field_and_the_range():
    with pytest.raises(SymbolError, match=r"crosshair pos: .*finite numbers in 0-1000 .*; x = <a 401-digit number>"):
        as_point([HUGE, 5], "crosshair pos")
    with pytest.raises(SymbolError, match=r"y = nan is not a finite number"):
        as_point([5, float("nan")], "lock pos", "0-640 x 0-480 (pixels)")
    assert as_point((1_000_000, -5.5), "x") == (1_000_000, -5.5)  # out of image, but a usable number


def test_safe_repr_never_raises():
    assert safe_repr(OVER_STR_LIMIT) == "<a 5001-digit number>"
    assert safe_repr(10**4299 - 1) == "<a 4299-digit number>"
    assert safe_repr([1, OVER_STR_LIMIT]) == "<unprintable list>"
    assert safe_repr("x" * 500, 10) == "'xxxxxxxxx"


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ({"type": "crosshair", "pos": [HUGE, 5]}, "crosshair pos"),
        ({"type": "crosshair", "pos": [OVER_STR_LIMIT, 5]}, "crosshair pos"),
        ({"type": "dual_crosshair", "p1": [1, 2], "p2": [3, -HUGE]}, "dual_crosshair p2"),
        ({"type": "move_arrow", "start": [1, 2], "end": [float("inf"), 4]}, "move_arrow end"),
        ({"type": "rotate_arrow", "start": [HUGE, 0], "end": [HUGE, 0]}, "rotate_arrow start"),  # legacy midpoint
        ({"type": ["crosshair"], "pos": [1, 2]}, "symbol type"),
        ({"type": "move_arrow", "start": [1, 2], "end": [3, 4], "colors": [["red"]]}, "arrow colour"),
        ({"type": "state", "pos": [1, 2], "text": OVER_STR_LIMIT}, "gripper state"),
        (OVER_STR_LIMIT, "expected a symbol object"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v[:20],
)
def test_code_dicts_raise_symbol_error_only(code, needle):
    with pytest.raises(SymbolError, match=needle) as info:
        symbol_from_code(code)
    assert len(str(info.value)) < 300


def test_check_symbols_refuses_huge_points_with_the_range():
    with pytest.raises(SymbolError, match=r"symbol 2: crosshair pos: .*\[0, 640\] x \[0, 480\].*too large"):
        check_symbols([Crosshair((1, 1)), Crosshair((HUGE, 1))], width=640, height=480)
    with pytest.raises(SymbolError, match="finite"):
        symbols_from_code([{"type": "lock", "pos": [1, 2]}, {"type": "lock", "pos": [float("nan"), 2]}])


def test_model_text_drops_only_the_bad_symbol():
    text = (
        "Draw Crosshair: {'position': [100, 200]}\n"
        f"Draw Straight Arrow: {{'start_point': [{'9' * 1900}, 1], 'end_point': [3, 4], 'color': ['red']}}\n"
        "Draw Lock: {'position': [1e999, 5]}\n"
        "Draw Straight Arrow: {'start_point': [1, 2], 'end_point': [3, 4], 'color': [['red']]}\n"
        "Draw Dual Crosshair: {'start_point': [5, 6], 'end_point': [7, 8]}"
    )
    symbols, problems = parse_visual_prompts(text)
    assert symbols == [Crosshair((100, 200)), DualCrosshair((5, 6), (7, 8))]
    assert len(problems) == 3
    assert "line 2 skipped: straight arrow start_point" in problems[0] and "0-1000" in problems[0]
    assert "line 3 skipped: lock position" in problems[1] and "inf is not a finite number" in problems[1]
    assert "line 4 skipped" in problems[2] and "arrow colour" in problems[2]


def test_huge_coordinate_in_an_answer_keeps_every_other_field(reference_dir):
    official = json.loads((reference_dir / "example_direct_draw.json").read_text())[0]["messages"][0]["content"]
    r = parse_answer(official.replace("[602, 179]", f"[{'9' * 400}, 179]"))
    assert (r.success, r.keyframe, r.failure_type) == (False, 13, "gripper 6d-pose")
    assert r.low_level and r.low_level.startswith("Move the right gripper")
    assert r.symbols == [RotatingArrow((550, 179), "clockwise"), DualCrosshair((806, 196), (789, 317))]
    assert not any("internal parser error" in p for p in r.problems)
    assert any("start_point" in p and "0-1000" in p for p in r.problems), r.problems
    json.dumps(r.to_dict())


def test_converting_kept_symbols_cannot_overflow():
    biggest = StraightArrow((1_000_000, -1_000_000), (0.5, 1e-300), ("red",))
    assert to_pixels(biggest, 1920, 1080, as_int=True).start == (1_920_000, -1_080_000)


def test_many_bad_lines_give_a_bounded_problem_list():
    symbols, problems = parse_visual_prompts("Draw Lock: {'position': [1, \n" * 1000)
    assert symbols == [] and len(problems) == 51 and problems[-1] == "... and 950 more visual prompt problems"


# --- the command line: one line naming the field and its range, exit 2, never a traceback -------------------------


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "in.png"
    write_image_rgb(path, np.full((240, 320, 3), 90, np.uint8))
    return path


@pytest.mark.parametrize(
    ("symbols", "needles"),
    [
        (f'[{{"type": "crosshair", "pos": [{"9" * 500}, 5]}}]', ["crosshair pos", "0-1000", "500-digit"]),
        (f'[{{"type": "crosshair", "pos": [{"9" * 5000}, 5]}}]', ["thousands of digits", "0-1000"]),
        ('[{"type": "crosshair", "pos": [1e999, 5]}]', ["crosshair pos", "0-1000", "not a finite number"]),
        ('[{"type": "crosshair", "pos": [-1e400, 5]}]', ["crosshair pos", "0-1000", "not a finite number"]),
        ('[{"type": "crosshair", "pos": [NaN, 5]}]', ["crosshair pos", "0-1000", "nan"]),
        ('[{"type": "crosshair", "pos": [-5, 5]}]', ["pos [-5, 5]", "outside [0, 1000]"]),
        ('[{"type": ["crosshair"], "pos": [5, 5]}]', ["symbol type"]),
        ("[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
    ],
    ids=["500-digits", "5000-digits", "1e999", "-1e400", "nan", "negative", "unhashable-type", "deep-json"],
)
def test_render_refuses_bad_numbers_in_one_line(capsys, tmp_path, image, symbols, needles):
    source = tmp_path / "symbols.json"
    source.write_text(symbols)  # a file: the deep one is too long for a command line
    out = tmp_path / "out.png"
    code = main(["render", "--image", str(image), "--symbols", str(source), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("vifailback render: error: ") and "Traceback" not in err
    assert all(n in err for n in needles), err
    assert not out.exists()


def test_render_names_the_pixel_range_with_pixels(capsys, image, tmp_path):
    argv = ["render", "--image", str(image), "--pixels", "--out", str(tmp_path / "o.png")]
    code = main([*argv, "--symbols", f'[{{"type": "lock", "pos": [5, {"9" * 300}]}}]'])
    err = capsys.readouterr().err
    assert code == 2 and "lock pos" in err and "0-320 x 0-240 (pixels)" in err, err


def test_render_huge_number_as_a_real_process(image, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vifailback_demo", "render", "--image", str(image), "--out", str(tmp_path / "o.png"),
         "--symbols", f'[{{"type": "crosshair", "pos": [{"9" * 700}, 5]}}]'],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "crosshair pos" in proc.stderr and "0-1000" in proc.stderr and "Traceback" not in proc.stderr
