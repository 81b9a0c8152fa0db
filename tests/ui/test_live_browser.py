"""The Live robot tab in a real browser (Playwright + Debian's Chromium): connect the simulated robot with the
built-in policy and the oracle, start, see the camera and a proposal in the editor, place a symbol by clicking the
keyframe and undo it (a changed correction may not fix the failure: the test accepts the model's own), accept, and
see the run resume (more actions) and end with the task done."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.browser import chromium_page
from tests.ui.helpers import free_port, make_services
from vifailback_demo.ui import build_demo, launch

TIMEOUT_MS = 60_000
CELLS = "#live-symbol-table [role=gridcell]"
#: docs/screenshots/live.png, refreshed only with VIFAILBACK_UPDATE_SCREENSHOTS=1 (a proposal under review).
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "live.png"


@pytest.fixture
def live_url(tmp_path: Path) -> Iterator[tuple[str, object]]:
    services = make_services(tmp_path / "data")
    services.live.fps = 100.0  # 4x real time: the same code path, a shorter test
    services.live.watchdog_s = 20.0  # a loaded CI machine can stall a thread for seconds; 5 s is for robots
    demo = build_demo(services)
    launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo.local_url, services
    demo.close()
    services.close()


def _actions(page) -> int:
    found = re.search(r"actions (\d+)", page.locator("#live-status").inner_text())
    return int(found.group(1)) if found else -1


def _wait_status(page, ok, what: str, timeout_s: float = 60.0) -> None:
    """Poll the status line; on timeout fail with what it said (state, error) rather than a bare timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = page.locator("#live-status").inner_text()
        if ok(text):
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"waited {timeout_s:g} s for {what}; the status says: {text}")


def test_live_tab_connect_review_accept_resume_in_chromium(live_url, tmp_path: Path) -> None:
    url, services = live_url

    with chromium_page(url, width=1400, height=1100, timeout_ms=TIMEOUT_MS) as page:
        page.get_by_role("tab", name="Live robot").click()
        page.get_by_label("oracle").check()
        page.locator("#live-connect").click()
        page.wait_for_function("() => document.querySelector('#live-status')?.innerText.includes('idle')")
        page.locator("#live-start").click()
        page.locator("#live-frame").wait_for(state="visible")  # the head camera, refreshed by the timer
        page.locator("#live-proposal").get_by_text("Proposal live-").wait_for(state="visible")
        assert "awaiting_review" in page.locator("#live-status").inner_text()
        page.locator("#live-keyframe-editor img").wait_for(state="visible")
        if os.environ.get("VIFAILBACK_UPDATE_SCREENSHOTS") == "1":
            page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)
        held = _actions(page)
        page.wait_for_timeout(1000)
        assert _actions(page) == held  # the robot is held while the proposal waits
        image = page.locator("#live-keyframe-editor img")
        image.wait_for(state="visible")
        rows = page.locator(CELLS).count()
        page.locator('#live-tool input[value="crosshair"]').check()
        page.wait_for_timeout(300)
        box = image.bounding_box()
        assert box is not None
        image.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})
        page.wait_for_function(f"n => document.querySelectorAll('{CELLS}').length > n", arg=rows)
        page.locator("#live-proposal-box button", has_text="Undo").click()  # the model's proposal, as it was
        page.wait_for_function(f"n => document.querySelectorAll('{CELLS}').length == n", arg=rows)
        # The command/symbol check follows the typed command at once (not only on Enter), then comes back.
        command = page.locator("#live-low-level textarea")
        proposed = command.input_value()
        before = page.locator("#live-consistency").inner_text()
        command.fill("Rotate the left gripper clockwise.")
        page.wait_for_function(
            "b => document.querySelector('#live-consistency')?.innerText !== b", arg=before, timeout=10_000
        )
        command.fill(proposed)
        page.wait_for_function(
            "b => document.querySelector('#live-consistency')?.innerText === b", arg=before, timeout=10_000
        )
        page.get_by_label("pmc").check()
        page.locator("#live-accept").click()
        page.locator("#live-decision").get_by_text("executing with PMC").wait_for(state="visible")
        _wait_status(page, lambda text: _actions(page) > held, "the run to resume")
        _wait_status(page, lambda text: "Ended: stop_when" in text, "the task to be done")
        page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    record = services.corrections.store.get(1)
    assert record.decision == "accepted" and record.final.symbols  # the reviewed proposal was stored
