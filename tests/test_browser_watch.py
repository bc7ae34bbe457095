"""Real browser: the Train page's live filmstrip follows the run (its snapshot changes after an
epoch). Screenshots go to .artifacts/screenshots/ (watch-live-*.png)."""

from __future__ import annotations

import re
import time

import pytest

from cnnlab.runs import ACTIVE, list_runs
from tests.browser import screenshot

pytestmark = pytest.mark.browser
TRAIN_BUTTON = re.compile(r"^Train\b")
PANEL = "[data-testid='stExpander']:has-text('Inside the network')"


def _caption(pg: object) -> str:
    return pg.locator(f"{PANEL} [data-testid='stImageCaption']").first.inner_text()  # type: ignore[attr-defined]


def test_live_filmstrip_updates_after_an_epoch(page, server) -> None:
    page.goto(f"{server.url}/train")
    page.get_by_role("button", name=TRAIN_BUTTON).click(timeout=60_000)
    page.locator(PANEL).first.wait_for(timeout=90_000)
    first = _caption(page)
    before = page.locator(PANEL).first.screenshot()
    screenshot(page, "watch-live-before")
    deadline = time.monotonic() + 120
    while _caption(page) == first or "early" in _caption(page):
        assert time.monotonic() < deadline, f"the filmstrip stayed at {first!r}"
        page.wait_for_timeout(500)
    page.wait_for_timeout(1500)  # the images of the new snapshot load
    after = page.locator(PANEL).first.screenshot()
    screenshot(page, "watch-live-after")
    assert re.match(r"epoch \d", _caption(page)) and after != before
    for run in list_runs(server.runs_dir):
        if run.status in ACTIVE:
            page.locator(f".st-key-stop_{run.run_id} button").first.click()
