"""A page of the app in Debian's Chromium driven by Playwright, for the browser tests (the only tests of the real
front end: a missing browser is a failure, never a skip)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
TIMEOUT_MS = 30_000


@contextmanager
def chromium_page(url: str, *, width: int = 1400, height: int = 1000, timeout_ms: int = TIMEOUT_MS) -> Iterator:
    """A fresh browser with one page opened at ``url`` (every wait bounded by ``timeout_ms``); closed on exit."""
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=timeout_ms)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            page.goto(url, timeout=timeout_ms)
            yield page
        finally:
            browser.close()
