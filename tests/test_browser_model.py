"""Real browser: the custom editor loads a preset's network and its boxes show it (the browser,
not only the server: a widget redrawn under the same key with a new default kept its old value)."""

from __future__ import annotations

import pytest

from tests.browser import Server, open_page, wait_idle
from tests.test_browser_understand import whole_page

pytestmark = pytest.mark.browser


def test_editor_loads_a_preset_into_its_boxes(page, server: Server) -> None:
    open_page(page, server, "model")
    page.get_by_text("Custom", exact=True).first.click()
    wait_idle(page)
    page.get_by_text("Start from a preset or a saved run's network").click()
    picker = page.locator("[data-testid=stExpander] [data-testid=stSelectbox]").first
    picker.wait_for()
    wait_idle(page)
    option = page.get_by_role("option", name="LeNet-5")
    for _ in range(3):  # under load the first click can land while the expander still reruns
        picker.click()
        try:
            option.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - a Playwright TimeoutError: open the list again
            wait_idle(page)
    option.click()
    page.get_by_text("Loads 2 conv blocks").wait_for(timeout=60_000)
    page.get_by_role("button", name="Load into the editor").click()
    page.locator(".st-key-blk0-filters input").first.wait_for()
    page.wait_for_function(
        "() => document.querySelector('.st-key-blk0-filters input').value === '6'", timeout=60_000
    )
    wait_idle(page)
    assert page.locator(".st-key-blk1-filters input").input_value() == "16"
    assert page.locator(".st-key-blkhidden input").input_value() == "120, 84"
    box = page.locator(".st-key-blk0-activation")
    assert "tanh" in box.inner_text() + box.locator("input").first.input_value()
    whole_page(page, "model-editor-from-preset")
