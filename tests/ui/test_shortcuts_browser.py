"""Keyboard shortcuts and select-and-move in a real browser (Playwright + Debian's Chromium): after a run, the keys
alone step the keyframe, pick tools, undo and accept; a symbol's point is moved with two clicks. Plus: the Help
text lists every shortcut, and the page's script answers exactly the keys the Help lists."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.browser import chromium_page
from tests.ui.helpers import free_port, make_services
from vifailback_demo.editing import COLUMNS
from vifailback_demo.services.config import ASSETS_DIR
from vifailback_demo.services.examples import ExamplesService
from vifailback_demo.ui import build_demo, launch
from vifailback_demo.ui.help import HELP_MARKDOWN
from vifailback_demo.ui.shortcuts import SHORTCUTS, SHORTCUTS_JS, TARGETS

CELLS = "#symbol-table [role=gridcell]"
STAR = (
    "() => [...document.querySelectorAll('#frames .caption-label')]"
    ".map(e => e.innerText.trim()).find(t => t.startsWith('★')) || ''"
)
#: A command the example's symbols (a leftward arrow, a dual crosshair) do not show: Accept asks first.
DISAGREEING = "Rotate the left gripper clockwise."


def test_help_lists_every_shortcut_and_the_script_answers_exactly_those_keys() -> None:
    for key, action in SHORTCUTS:
        assert f"`{key}`" in HELP_MARKDOWN, key
        assert action in HELP_MARKDOWN and action in TARGETS, action
    found = re.findall(r"const (EDITOR|CONFIRM)_KEYS = (\{.*\});", SHORTCUTS_JS)
    assert len(found) == 2
    answered = {key: target for _, keys in found for key, target in json.loads(keys).items()}
    assert answered == {key: TARGETS[action] for key, action in SHORTCUTS}
    assert "The app has no live robot link yet" not in HELP_MARKDOWN
    assert "To drive a connected robot directly use the Live robot tab" in HELP_MARKDOWN
    assert "move point" in HELP_MARKDOWN


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[str, object]]:
    services = make_services(tmp_path / "data")
    demo = build_demo(services)
    launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo.local_url, services
    demo.close()
    services.close()


def _rows(page) -> list[list[str]]:
    cells = page.locator(CELLS).evaluate_all("cells => cells.map(c => c.innerText.trim())")
    width = len(COLUMNS)
    return [cells[i : i + width] for i in range(0, len(cells), width)]


def _keyframe(page) -> int:
    star = page.evaluate(STAR)
    assert star.startswith("★ "), star
    return int(star.split()[1])


def _wait_keyframe(page, k: int) -> None:
    page.wait_for_function(f"k => ({STAR})() === '★ ' + k || ({STAR})().startsWith('★ ' + k + ' ')", arg=k)


def _checked_tool(page) -> str:
    return page.evaluate("() => document.querySelector('#tool input:checked')?.value || ''")


def test_keyboard_only_review_with_select_and_move_in_chromium(app) -> None:
    url, services = app

    with chromium_page(url, width=1400, height=1000) as page:
        page.locator("#example-picker input").click()
        page.get_by_role("option", name=ExamplesService(ASSETS_DIR / "examples").get("gripper_6d_pose").label).click()
        task = page.locator('textarea[placeholder^="Use the right arm"]')
        page.wait_for_function(
            "() => document.querySelector('textarea[placeholder^=\"Use the right arm\"]')?.value.length > 10"
        )
        page.locator("#run-button").click()
        image = page.locator("#keyframe-editor img")
        image.wait_for(state="visible")
        page.wait_for_function(f"() => document.querySelectorAll('{CELLS}').length >= {2 * len(COLUMNS)}")
        page.wait_for_function(f"() => ({STAR})() !== ''")
        # The scripted answer of this example: keyframe 4 of 10, an arrow (600,400)->(530,400) and a dual
        # crosshair (600,400)->(545,396).
        original = _rows(page)
        assert original[0][:5] == ["move_arrow", "600", "400", "530", "400"], original

        # Keyframe: "." forward, "," back.
        k = _keyframe(page)
        assert 1 < k < 10, k
        page.keyboard.press(".")
        _wait_keyframe(page, k + 1)
        page.keyboard.press(",")
        _wait_keyframe(page, k)
        page.keyboard.press("ArrowRight")
        _wait_keyframe(page, k + 1)
        page.keyboard.press("ArrowLeft")
        _wait_keyframe(page, k)

        # Keys typed into a text field are text, not shortcuts.
        task.click()
        page.keyboard.press("r")
        page.keyboard.press(".")
        assert task.input_value().endswith("r.")
        page.wait_for_timeout(500)
        assert "rejected" not in page.locator("#decision-out").inner_text() and _keyframe(page) == k
        page.evaluate("() => document.activeElement.blur()")

        # Another tab shown: the Diagnose tab's shortcuts rest.
        page.get_by_role("tab", name="Help").click()
        page.keyboard.press(".")
        page.wait_for_timeout(500)
        page.get_by_role("tab", name="Diagnose & correct").click()
        image.wait_for(state="visible")
        assert _keyframe(page) == k

        # Tools by number and "m"; then select the arrow's end and move it with two clicks.
        page.keyboard.press("2")
        page.wait_for_function("() => document.querySelector('#tool input:checked')?.value === 'rotating arrow'")
        page.keyboard.press("m")
        page.wait_for_function("() => document.querySelector('#tool input:checked')?.value === 'move point'")
        page.wait_for_timeout(300)  # the tool change is an event too; let it land before the click
        box = image.bounding_box()
        assert box is not None
        image.click(position={"x": box["width"] * 0.530, "y": box["height"] * 0.400})
        page.get_by_text("Point selected - click where it should go.").wait_for(state="visible")
        assert _rows(page) == original  # selecting moves nothing
        image.click(position={"x": box["width"] * 0.300, "y": box["height"] * 0.200})
        page.wait_for_function(
            f"() => document.querySelectorAll('{CELLS}')[3]?.innerText.trim() !== '530'", timeout=10_000
        )
        moved = _rows(page)
        assert moved[0][:3] == original[0][:3] and moved[1:] == original[1:], moved
        assert abs(int(moved[0][3]) - 300) <= 3 and abs(int(moved[0][4]) - 200) <= 3, moved

        # "z" undoes the move.
        page.keyboard.press("z")
        page.wait_for_function(f"() => document.querySelectorAll('{CELLS}')[3]?.innerText.trim() === '530'")
        assert _rows(page) == original
        assert _checked_tool(page) == "move point"

        # "a" accepts (the command and the symbols agree: no question asked).
        page.keyboard.press("a")
        page.locator("#decision-out").get_by_text("Accepted: stored as correction").wait_for(state="visible")

        # A command that disagrees with the symbols: "a" opens the confirmation box, and while it is shown
        # only its keys act: Escape cancels, "y" and Enter accept anyway.
        command = page.locator("#low-level textarea")
        command.click()
        page.keyboard.press("Control+a")
        page.keyboard.type(DISAGREEING)  # typed: its "a", "r", "s" and "." are text here, not shortcuts
        page.wait_for_function("() => document.querySelector('#consistency')?.innerText.includes('disagree')")
        assert command.input_value() == DISAGREEING
        page.evaluate("() => document.activeElement.blur()")
        confirm = page.locator("#accept-confirm")
        page.keyboard.press("a")
        confirm.wait_for(state="visible")
        page.keyboard.press(".")
        page.wait_for_timeout(500)
        assert _keyframe(page) == k  # "." is no shortcut while the box is shown
        page.keyboard.press("Escape")
        confirm.wait_for(state="hidden")
        page.locator("#decision-out").get_by_text("Not accepted").wait_for(state="visible")
        for n, key in ((2, "y"), (3, "Enter")):
            page.keyboard.press("a")
            confirm.wait_for(state="visible")
            page.keyboard.press(key)
            page.locator("#decision-out").get_by_text(f"(revision {n})").wait_for(state="visible")
            confirm.wait_for(state="hidden")
    record = services.corrections.store.get(1)
    assert record.decision == "accepted"
    assert record.revision == 3 and record.final.low_level == DISAGREEING
    arrow = record.final.symbol_objects()[0]  # stored as it was before the undone move
    assert (arrow.kind, arrow.start, arrow.end) == ("move_arrow", (600, 400), (530, 400))
