"""The review queue in a real browser (Playwright + Debian's Chromium), keyboard first: a reviewer types their name
and presses Enter, then walks a three-clip queue with the shortcuts only, apart from one select-and-move of a
symbol's point (two clicks on the picture). The move makes the arrow contradict the command, so that Accept asks
first and "y" confirms. The store then holds three decisions by the named reviewer, in queue order.
(``docs/screenshots/queue.png`` is refreshed with VIFAILBACK_UPDATE_SCREENSHOTS=1.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.ui.browser import chromium_page
from tests.ui.helpers import free_port, make_services
from tests.ui.test_review_queue import make_queue
from vifailback_demo.editing import COLUMNS
from vifailback_demo.ui import build_demo, launch

CELLS = "#symbol-table [role=gridcell]"
REVIEWER = "Ada Lovelace"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "queue.png"


def _rows(page) -> list[list[str]]:
    cells = page.locator(CELLS).evaluate_all("cells => cells.map(c => c.innerText.trim())")
    return [cells[i : i + len(COLUMNS)] for i in range(0, len(cells), len(COLUMNS))]


def _progress(page, text: str) -> None:
    page.locator("#queue-progress").get_by_text(text).wait_for(state="visible")


def test_a_reviewer_walks_the_queue_with_the_keyboard(tmp_path: Path) -> None:

    services = make_services(tmp_path / "data", queue_dir=make_queue(tmp_path / "queue", 3))
    demo = build_demo(services)
    launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with chromium_page(demo.local_url, width=1400, height=1100) as page:
            _progress(page, "3 clips")
            page.locator("#reviewer-name input, #reviewer-name textarea").first.focus()
            page.keyboard.type(REVIEWER)
            page.keyboard.press("Enter")  # Enter in the name box loads the first clip
            _progress(page, "Clip 1 of 3")
            page.wait_for_function(f"() => document.querySelectorAll('{CELLS}').length >= {len(COLUMNS)}")
            page.keyboard.press("Escape")  # leave the name box: the keys are shortcuts again

            # Clip 1: select the arrow's end and mirror it left of its start: the arrow now points left while
            # the command says right, so the consistency check turns to "disagree".
            arrow = next(row for row in _rows(page) if row[0] == "move_arrow")
            x1, _, x2, y2 = (int(v) for v in arrow[1:5])
            assert x2 > x1, arrow
            page.keyboard.press("m")
            page.wait_for_function("() => document.querySelector('#tool input:checked')?.value === 'move point'")
            page.wait_for_timeout(300)  # the tool change is an event too; let it land before the click
            image = page.locator("#keyframe-editor img")
            box = image.bounding_box()
            assert box is not None
            image.click(position={"x": box["width"] * x2 / 1000, "y": box["height"] * y2 / 1000})
            page.get_by_text("Point selected - click where it should go.").wait_for(state="visible")
            new_x = x1 - (x2 - x1)
            image.click(position={"x": box["width"] * new_x / 1000, "y": box["height"] * y2 / 1000})
            page.wait_for_function("() => document.querySelector('#consistency')?.innerText.includes('disagree')")
            moved = next(row for row in _rows(page) if row[0] == "move_arrow")
            assert abs(int(moved[3]) - new_x) <= 3, moved
            # The side-by-side table follows the edit and marks the changed field.
            page.wait_for_function("() => document.querySelector('#compare')?.innerText.includes('(changed)')")
            page.keyboard.press("a")
            page.locator("#accept-confirm").wait_for(state="visible")
            page.keyboard.press("y")  # Accept anyway: stored, and the next clip loads
            _progress(page, "Clip 2 of 3")
            page.locator("#accept-confirm").wait_for(state="hidden")

            # Clip 2: the model's own version agrees with itself: Accept stores at once.
            page.wait_for_function("() => document.querySelector('#consistency')?.innerText.includes('agree')")
            if os.environ.get("VIFAILBACK_UPDATE_SCREENSHOTS") == "1":
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.keyboard.press("a")
            _progress(page, "Clip 3 of 3")

            # Clip 3: Reject; the queue is done.
            page.keyboard.press("r")
            _progress(page, "Nothing left")
            assert f"{REVIEWER}: 3 decided" in page.locator("#queue-progress").inner_text()
    finally:
        demo.close()
    try:
        records = sorted(services.corrections.store.list().records, key=lambda r: r.id)
        assert [(r.who, r.decision, r.source.ref) for r in records] == [
            (REVIEWER, "accepted", "clip0.mp4"),
            (REVIEWER, "accepted", "clip1.mp4"),
            (REVIEWER, "rejected", "clip2.mp4"),
        ]
        assert [r.created_at for r in records] == sorted(r.created_at for r in records)
        first_arrow = next(s for s in records[0].final.symbol_objects() if s.kind == "move_arrow")
        assert first_arrow.end[0] < first_arrow.start[0]  # the moved point was stored
        assert services.queue.progress().done == 3
    finally:
        services.close()


def test_closing_the_tab_gives_the_clips_back(tmp_path: Path) -> None:

    services = make_services(tmp_path / "data", queue_dir=make_queue(tmp_path / "queue", 3))
    demo = build_demo(services)
    launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with chromium_page(demo.local_url) as page:
            page.locator("#reviewer-name input, #reviewer-name textarea").first.fill(REVIEWER)
            page.locator("#queue-next").click()
            _progress(page, "Clip 1 of 3")
            assert services.queue.progress().claimed == 2  # this clip and the pre-fetched next one
            page.close()
        deadline = time.monotonic() + 20
        while services.queue.progress().claimed and time.monotonic() < deadline:
            time.sleep(0.2)
        assert services.queue.progress().claimed == 0 and services.queue.progress().open == 3
    finally:
        demo.close()
        services.close()
