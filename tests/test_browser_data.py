"""Real-browser tests of the Data and Model pages: a zip of class folders dragged onto the Data page
becomes the current dataset; the Model page's block editor explains an impossible network.

Screenshots of each state go to .artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import pytest

from tests.browser import open_page, screenshot, wait_idle
from tests.test_app_home_data_model import class_zip

pytestmark = pytest.mark.browser
SERVER_SETTINGS = {"STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "1"}  # MB: a 2 MB file is "too large"
LOADED = """() => !document.querySelector('[data-testid=stSkeleton]')
    && [...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete)"""


def full_screenshot(page, name: str) -> None:  # noqa: ANN001 - a Playwright page
    """Streamlit scrolls inside the page, so grow the viewport to the content before shooting."""
    page.wait_for_function(LOADED, timeout=60_000)
    height = page.evaluate(
        "() => document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight"
    )
    page.set_viewport_size({"width": 1400, "height": min(max(1000, height + 120), 6000)})
    page.wait_for_timeout(500)
    page.wait_for_function(LOADED, timeout=60_000)
    screenshot(page, name)
    page.set_viewport_size({"width": 1400, "height": 1000})


def goto(page, server, path: str, heading: str) -> None:  # noqa: ANN001
    """Open a page and wait for its heading: a fresh server's first run imports torch (slow)."""
    open_page(page, server, path)
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=120_000)
    wait_idle(page, 120_000)


def submit(page, label: str) -> None:  # noqa: ANN001
    page.get_by_role("button", name=label).click()
    page.wait_for_timeout(500)
    wait_idle(page)


def test_uploaded_zip_becomes_the_current_dataset(page, server) -> None:  # noqa: ANN001
    goto(page, server, "", "cnnlab")
    full_screenshot(page, "home")
    goto(page, server, "data", "Data")
    page.get_by_text("Samples per class").wait_for(timeout=60_000)
    full_screenshot(page, "data-shapes")

    page.get_by_role("tab", name="Upload a zip").click()
    page.locator("input[type=file]").set_input_files(
        {"name": "pets.zip", "mimeType": "application/zip", "buffer": class_zip(per_class=8)}
    )
    page.get_by_text("pets.zip").first.wait_for()  # the upload reached the server
    submit(page, "Use these images")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("your images (pets").wait_for()  # names carry invisible word joiners
    main = page.get_by_test_id("stMain")
    assert main.get_by_text("1 file(s) left out").is_visible()
    samples = main.get_by_test_id("stPlotlyChart").nth(1)  # class counts, then the samples
    for colour in ("red", "green", "blue"):
        samples.locator("text.annotation-text", has_text=colour).first.wait_for()
    full_screenshot(page, "data-zip")

    page.get_by_role("tab", name="Built-in datasets").click()
    page.get_by_text("Digits (scikit-learn, 8x8 greyscale)").click()
    submit(page, "Use this dataset")
    sidebar.get_by_text("Digits (scikit-learn, 8x8 greyscale)").wait_for()
    full_screenshot(page, "data-digits")


def test_a_file_the_browser_refuses_is_named_too_large(page, server) -> None:  # noqa: ANN001
    goto(page, server, "data", "Data")
    page.get_by_role("tab", name="Upload a zip").click()
    page.locator("input[type=file]").set_input_files(
        {"name": "big.zip", "mimeType": "application/zip", "buffer": b"PK" + b"x" * 2 * 2**20}
    )
    page.wait_for_timeout(500)
    submit(page, "Use these images")
    error = page.get_by_test_id("stAlertContentError").filter(has_text="size limit of 1 MB")
    error.first.wait_for()
    full_screenshot(page, "data-too-large")


def test_model_editor_explains_an_impossible_network(page, server) -> None:  # noqa: ANN001
    goto(page, server, "model", "Model")
    page.get_by_text("Layers", exact=True).wait_for(timeout=60_000)
    full_screenshot(page, "model-preset")

    page.get_by_text("Custom", exact=True).click()
    wait_idle(page)
    page.get_by_text("Conv block 2").wait_for()
    full_screenshot(page, "model-custom")

    for _ in range(3):  # 5 blocks of conv + 2x2 pooling: 32 -> 1 pixel; a 6th cannot pool
        submit(page, "Add a conv block")
    page.get_by_text("Conv block 5 → 512×1×1").wait_for()
    submit(page, "Add a conv block")
    error = page.get_by_test_id("stAlertContentError").filter(has_text="block 6 (conv")
    error.first.wait_for()
    assert "too small" in error.first.inner_text()
    full_screenshot(page, "model-invalid")
