"""The main flow in a real browser (Playwright + Debian's Chromium): pick an example, run, choose the crosshair
tool, click on the keyframe, see the crosshair row in the symbol table; saves a screenshot (docs/screenshots/app.png with VIFAILBACK_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.browser import chromium_page
from tests.ui.helpers import free_port, make_services
from vifailback_demo.services.config import ASSETS_DIR
from vifailback_demo.services.examples import ExamplesService
from vifailback_demo.ui import build_demo, launch

#: The README's screenshot; refreshed only with VIFAILBACK_UPDATE_SCREENSHOTS=1 so test runs leave the tree clean.
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "app.png"
CELLS = "#symbol-table [role=gridcell]"  # Gradio 6's dataframe renders cells as ARIA grid cells


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    services = make_services(tmp_path / "data")
    demo = build_demo(services)
    launch(demo, services, server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()
    services.close()


def crosshair_rows(page) -> int:
    return page.locator(CELLS).evaluate_all("cells => cells.filter(c => c.innerText.trim() === 'crosshair').length")


def test_main_flow_in_chromium(app_url: str, tmp_path: Path) -> None:
    # A missing browser is a failure, not a skip: this is the only test of the real front end.

    with chromium_page(app_url, width=1400, height=1000) as page:
        page.locator("#example-picker input").click()
        label = ExamplesService(ASSETS_DIR / "examples").get("gripper_6d_pose").label  # names no outcome
        assert "gripper" not in label.split(":")[0]
        page.get_by_role("option", name=label).click()
        page.wait_for_function(
            "() => document.querySelector('textarea[placeholder^=\"Use the right arm\"]')?.value.length > 10"
        )
        page.locator("#run-button").click()
        image = page.locator("#keyframe-editor img")
        image.wait_for(state="visible")
        page.wait_for_function(f"() => document.querySelectorAll('{CELLS}').length >= 7")
        before = crosshair_rows(page)
        page.locator('#tool input[value="crosshair"]').check()
        page.wait_for_timeout(300)  # the tool change is an event too; let it land before the click
        box = image.bounding_box()
        assert box is not None
        image.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.6})
        page.wait_for_function(
            f"n => [...document.querySelectorAll('{CELLS}')]"
            ".filter(c => c.innerText.trim() === 'crosshair').length > n",
            arg=before,
        )
        assert crosshair_rows(page) == before + 1
        assert "Failed" in page.locator("#run-summary").inner_text()
        shot = tmp_path / "app.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("VIFAILBACK_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            DOCS_SCREENSHOT.write_bytes(shot.read_bytes())
