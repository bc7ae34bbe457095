"""Real browser: an Evaluate gallery image opens in Inspect (the same test image, its Grad-CAM),
and the highest-loss tiles carry Grad-CAM thumbnails. Screenshots go to .artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest

from cnnlab.text import ZWSP
from tests.browser import Server, open_page, wait_idle
from tests.test_browser_understand import digits_run, wait_charts, whole_page  # noqa: F401

pytestmark = pytest.mark.browser


def main_text(page: object) -> str:
    return page.inner_text("[data-testid=stMain]").replace(ZWSP, "")  # type: ignore[attr-defined]


@pytest.mark.parametrize("gallery", ["evaluate_worst", "evaluate_cell"])
def test_gallery_image_opens_in_inspect(
    page,
    server: Server,
    digits_run: str,  # noqa: F811 - the fixture imported above
    gallery: str,
) -> None:
    open_page(page, server, "evaluate")
    page.get_by_text("Highest-loss images").wait_for(timeout=60_000)
    wait_idle(page)
    tiles = page.locator(f"[data-testid=stElementContainer][class*='st-key-{gallery}_']")
    tiles.first.wait_for(timeout=60_000)
    if gallery == "evaluate_worst":
        assert tiles.count() == 8, [tiles.nth(i).inner_text() for i in range(tiles.count())]
        wait_charts(page, 2)
        whole_page(page, "evaluate-galleries")
    chosen = tiles.nth(1).locator("button").first
    index = int(re.search(r"#(\d+)", chosen.inner_text()).group(1))
    chosen.click()
    page.get_by_text(f"test image #{index}, true class").wait_for(timeout=60_000)
    page.get_by_text("predicted:").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert "/inspect" in page.url
    text = main_text(page)
    assert f"test image #{index}, true class" in text and "Grad-CAM" in text
    assert page.locator("[data-testid=stImage] img").count() >= 4  # input x2, two heat maps
    number = page.get_by_label(re.compile("^Test image #"))
    assert number.input_value() == str(index)  # Inspect's own picker shows the index
    if gallery == "evaluate_worst":
        wait_charts(page, 3)
        whole_page(page, "inspect-from-evaluate")
