"""Real-browser tests of Classify with an MNIST model: mouse-drawn digits on the canvas, the
webcam (Chromium's fake camera playing a .y4m of a digit on paper), a non-square photo upload
(not distorted: its step strip's model input keeps a circle round), the step strip, and a what-if
slider that moves the probabilities.

Needs the real MNIST files (CNNLAB_DATA); trains a small MNIST run once (~10-20 s).
Screenshots go to .artifacts/screenshots/.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnlab.text import ZWSP
from tests.browser import CHROMIUM, CHROMIUM_ARGS, REPO, Server, open_page, wait_idle
from tests.conftest import shared_data
from tests.photo_maker import make_photo, photo_image, y4m_video
from tests.test_browser_understand import wait_charts, whole_page

pytestmark = pytest.mark.browser
# unit-box mouse paths of digits (x, y in 0..1 of the canvas); one list per stroke
PATHS = {
    1: [[(0.42, 0.25), (0.52, 0.15), (0.52, 0.85)]],
    7: [[(0.28, 0.18), (0.72, 0.18), (0.42, 0.85)]],
    0: [[(0.5 + 0.2 * np.sin(t), 0.5 - 0.32 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 25)]],
    4: [[(0.62, 0.85), (0.62, 0.15), (0.26, 0.6), (0.76, 0.6)]],
}


@pytest.fixture(scope="module")
def mnist_run(server: Server) -> str:
    """A small MNIST run (20,000 training images, the default recipe) in the server's folder."""
    if shared_data() is None or not (shared_data() / "MNIST").is_dir():
        pytest.skip("real MNIST absent: set CNNLAB_DATA to ../shared/data")
    env = dict(os.environ, CNNLAB_RUNS=str(server.runs_dir), PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "cnnlab", "train", "--dataset", "mnist", "--limit", "20000"]
    done = subprocess.run(
        [*cmd, "--threads", "2", "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return sorted(p.name for p in server.runs_dir.iterdir())[-1]


def main_text(page) -> str:
    return page.inner_text("[data-testid=stMain]").replace(ZWSP, "")


def draw(page, strokes: list[list[tuple[float, float]]]) -> None:
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    for stroke in strokes:
        xs = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*xs[0])
        page.wait_for_timeout(150)
        page.mouse.down()
        for point in xs[1:]:
            page.mouse.move(*point, steps=6)
        page.mouse.up()
        page.wait_for_timeout(150)


@pytest.mark.parametrize("digit", sorted(PATHS))
def test_canvas_mouse_digit_is_read(page, server, mnist_run, digit) -> None:
    open_page(page, server, "classify")
    page.get_by_test_id("stButtonGroup").first.get_by_text("Draw", exact=True).click()
    page.get_by_text("Draw on the canvas first").wait_for()
    draw(page, PATHS[digit])
    page.get_by_text("drawing →").wait_for(timeout=60_000)
    wait_idle(page)
    assert f"drawing → {digit} (" in main_text(page)
    if digit == 7:
        wait_charts(page, 2)
        whole_page(page, "classify-mnist-drawing")


def ink_aspect(png: bytes) -> float:
    """Width / height of the light ink's bounding box in a screenshot of a model input."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L")) > 100
    rows, cols = np.flatnonzero(grey.any(1)), np.flatnonzero(grey.any(0))
    return (cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1)


def test_upload_landscape_photo_step_strip_and_whatif(page, server, mnist_run, tmp_path) -> None:
    ring = Image.new("RGB", (600, 300), (205, 200, 185))  # a "0" drawn as a circle on grey paper
    ImageDraw.Draw(ring).ellipse((230, 80, 370, 220), outline=(40, 40, 40), width=14)
    ring.save(tmp_path / "ring.jpg", quality=85)
    (tmp_path / "three.jpg").write_bytes(make_photo(3, 7, "printed", size=(480, 640)))
    open_page(page, server, "classify")
    page.locator("[data-testid=stFileUploaderDropzone] input[type=file]").set_input_files(
        [str(tmp_path / "ring.jpg"), str(tmp_path / "three.jpg")]
    )
    page.get_by_text("All results").wait_for(timeout=60_000)
    wait_idle(page)
    captions = ["original, 600×300 px", "cropped to the ink", "model input 28×28"]
    page.wait_for_function(  # the step strip draws after the results (a loaded machine: later)
        "([texts, zwsp]) => texts.every(t => document.querySelector('[data-testid=stMain]')"
        ".innerText.replaceAll(zwsp, '').includes(t))",
        arg=[captions, ZWSP],
        timeout=60_000,
    )
    text = main_text(page)
    assert "ring.jpg → 0 (" in text and "three.jpg → 3 (" in text
    strip = page.get_by_test_id("stVerticalBlock").filter(has_text="As the network sees it")
    last = strip.first.get_by_test_id("stImage").last.locator("img")
    assert 0.8 < ink_aspect(last.screenshot()) < 1.25  # a circle stays a circle (squash: 0.5)
    panel = page.get_by_test_id("stVerticalBlock").filter(has_text="What if").last
    before = panel.get_by_text("before ").first.inner_text()
    assert before.startswith("before 0") and "after 0" in before
    slider = (
        page.get_by_test_id("stSlider").filter(has_text="Occlusion patch").get_by_role("slider")
    )
    slider.focus()
    started = time.monotonic()
    for _ in range(14):  # a 14-pixel patch over the middle of the 28x28 input
        slider.press("ArrowRight")
    page.wait_for_function(
        "(b) => [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]"
        ".some(e => e.innerText.startsWith('before') && e.innerText !== b)",
        arg=before,
        timeout=30_000,
    )
    wait_idle(page)
    after = panel.get_by_text("before ").first.inner_text()
    assert after != before, f"{before} / {after} (waited {time.monotonic() - started:.1f} s)"
    wait_charts(page, 3)
    whole_page(page, "classify-mnist-upload-whatif")


def test_webcam_fake_camera_digit_on_paper(browser, server, mnist_run, tmp_path) -> None:
    video = tmp_path / "eight.y4m"
    video.write_bytes(y4m_video(photo_image(8, 3, "printed", size=(640, 480))))
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    # a second browser (camera flags), from the module's Playwright (one per thread)
    camera_browser = browser.browser_type.launch(
        executable_path=str(CHROMIUM), args=args, headless=True
    )
    try:
        context = camera_browser.new_context(viewport={"width": 1400, "height": 1000})
        context.grant_permissions(["camera"], origin=server.url)
        page = context.new_page()
        page.set_default_timeout(30_000)
        open_page(page, server, "classify")
        page.get_by_test_id("stButtonGroup").first.get_by_text("Webcam", exact=True).click()
        take = page.get_by_role("button", name="Take Photo")
        take.wait_for(timeout=30_000)
        page.wait_for_timeout(2500)  # the fake camera's first frames
        take.click()
        page.get_by_text("camera photo →").wait_for(timeout=60_000)
        wait_idle(page)
        assert "camera photo → 8 (" in main_text(page)
        whole_page(page, "classify-mnist-webcam")
    finally:
        camera_browser.close()
