"""Real-browser tests of the Understand pages: drag-and-drop upload, drawing on the canvas,
clicking a confusion-matrix cell, and screenshots of Evaluate, Inspect and Classify.

Screenshots go to .artifacts/screenshots/ (looked at by people). Streamlit scrolls inside its own
container, so a page is captured whole by growing the viewport to the content's height first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from cnnlab.text import ZWSP
from tests.browser import REPO, SCREENSHOTS, Server, open_page, wait_idle

pytestmark = pytest.mark.browser
WIDTH = 1400


@pytest.fixture(scope="module")
def digits_run(server: Server) -> str:
    """Train one digits run into the server's runs folder; the run id."""
    env = dict(os.environ, CNNLAB_RUNS=str(server.runs_dir), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "cnnlab", "train", "--dataset", "digits", "--epochs", "2", "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return sorted(p.name for p in server.runs_dir.iterdir())[-1]


def whole_page(pg: object, name: str) -> Path:
    """Screenshot of the whole page (viewport grown to the main container's height)."""
    height = pg.evaluate(  # type: ignore[attr-defined]
        "() => document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight"
    )
    pg.mouse.move(0, 0)  # type: ignore[attr-defined]  # no hover label in the picture
    pg.set_viewport_size({"width": WIDTH, "height": min(int(height) + 150, 6000)})  # type: ignore[attr-defined]
    pg.wait_for_timeout(1500)  # type: ignore[attr-defined]  # charts re-layout to the new size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    pg.set_viewport_size({"width": WIDTH, "height": 1000})  # type: ignore[attr-defined]
    return path


def wait_charts(pg: object, count: int) -> None:
    """Plotly charts load lazily after the script run ends; wait until `count` are drawn."""
    pg.wait_for_function(  # type: ignore[attr-defined]
        f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {count}",
        timeout=60_000,
    )


def test_evaluate_click_on_confusion_cell_shows_its_images(page, server, digits_run) -> None:
    # The server's first page view is this deep link: the page must still run inside app.py.
    open_page(page, server, "evaluate")
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(timeout=60_000)
    wait_idle(page)
    heatmap = page.locator(".js-plotly-plot").filter(has=page.locator(".heatmaplayer")).first
    box = heatmap.locator(".nsewdrag").first.bounding_box()
    k = 10  # digit classes; click the "3 predicted as 3" cell (row 3, column 3), off its centre
    page.mouse.move(box["x"] + 3.3 * box["width"] / k, box["y"] + 3.7 * box["height"] / k, steps=4)
    page.wait_for_timeout(300)
    hover = page.evaluate("() => document.querySelector('.hoverlayer').textContent")
    assert "true: 3" in hover and "predicted: 3" in hover and "share of true" in hover
    page.mouse.down()
    page.mouse.up()
    page.get_by_text("correctly classified").wait_for(timeout=30_000)
    wait_idle(page)
    assert "test images of class 3 correctly classified" in page.inner_text("[data-testid=stMain]")
    wait_charts(page, 2)  # matrix and training curves (the cell's images are tiles)
    whole_page(page, "evaluate")  # looked at by people; assets/ keeps a curated copy


def test_inspect_shows_feature_maps_and_grad_cam(page, server, digits_run) -> None:
    open_page(page, server, "inspect")
    page.get_by_text("First-layer filters").wait_for(timeout=60_000)
    wait_charts(page, 4)  # bars, two layers of feature maps, filters
    page.get_by_text("channels of 6×6").first.wait_for(timeout=60_000)  # slow under load
    page.get_by_text("predicted:").first.wait_for(timeout=60_000)
    text = page.inner_text("[data-testid=stMain]").replace(ZWSP, "")
    assert "net.block1.conv · 32 channels of 6×6" in text and "predicted:" in text
    assert page.locator("[data-testid=stImage] img").count() >= 4  # input x2, two heat maps
    whole_page(page, "inspect")


def test_classify_drag_and_drop_upload(page, server, digits_run, tmp_path) -> None:
    good = tmp_path / "seven.png"
    img = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(img).line([(20, 25), (100, 25), (45, 140)], fill=0, width=16)
    img.save(good)
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"<html><body>saved web page</body></html>")
    photo = tmp_path / "photo.jpg"  # a phone-style JPEG stored sideways (EXIF orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (1600, 1200), (250, 250, 250)).save(photo, "JPEG", exif=exif)
    open_page(page, server, "classify")
    page.locator("[data-testid=stFileUploaderDropzone] input[type=file]").set_input_files(
        [str(good), str(bad), str(photo)]
    )
    page.get_by_text("All results").wait_for(timeout=60_000)
    wait_idle(page)
    wait_charts(page, 1)
    main = page.inner_text("[data-testid=stMain]").replace(ZWSP, "")  # escaped names
    assert "seven.png →" in main and "inverted" in main
    assert "notes.png: This file is a web page" in main
    assert "original, 1200×1600 px" in main  # upright: portrait after the EXIF rotation
    assert page.locator(".js-plotly-plot .bars").count() >= 1  # the probability bars
    whole_page(page, "classify-upload")


def test_classify_canvas_drawing_is_classified(page, server, digits_run) -> None:
    open_page(page, server, "classify")
    page.get_by_test_id("stButtonGroup").first.get_by_text("Draw", exact=True).click()
    page.get_by_text("Draw on the canvas first").wait_for()
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    result = page.get_by_text("drawing →")
    for attempt in range(3):  # a stroke made while a loaded machine still wires the canvas is
        page.mouse.move(*at(0.25, 0.2))  # lost; a person draws it again. Hover, a slow "7"
        page.wait_for_timeout(200)
        page.mouse.down()
        page.mouse.move(*at(0.75, 0.2), steps=15)
        page.mouse.move(*at(0.4, 0.85), steps=20)
        page.mouse.up()
        try:
            result.wait_for(timeout=40_000)
            break
        except Exception:
            if attempt == 2:
                whole_page(page, "classify-drawing-failed")
                raise
    wait_idle(page)
    wait_charts(page, 1)
    assert "8×8 grey, inverted" in page.inner_text("[data-testid=stMain]")
    whole_page(page, "classify-drawing")
