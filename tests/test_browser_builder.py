"""Real-browser test of Make a dataset with Chromium's fake camera (a .y4m clip of a red card):
create a dataset and two classes, add a camera shot, dropped files, a drawing and a recorded
burst (streamlit-webrtc), and check every sample landed as a PNG in its class folder.
Screenshots go to .artifacts/screenshots/.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.browser import CHROMIUM, CHROMIUM_ARGS, Server, open_page, wait_idle
from tests.photo_maker import y4m_video
from tests.test_browser_understand import whole_page

pytestmark = pytest.mark.browser
MADE = Path(tempfile.mkdtemp(prefix="cnnlab-made-browser-"))
SERVER_SETTINGS = {"CNNLAB_DATASETS": str(MADE)}


@pytest.fixture(scope="module")
def camera_page(browser, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A page of a Chromium whose camera plays a still clip of a red card on grey."""
    card = Image.new("RGB", (640, 480), (128, 128, 128))
    card.paste((220, 30, 30), (200, 120, 440, 360))
    video = tmp_path_factory.mktemp("clip") / "red.y4m"
    video.write_bytes(y4m_video(card, frames=20))
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    camera_browser = browser.browser_type.launch(
        executable_path=str(CHROMIUM), args=args, headless=True
    )
    context = camera_browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["camera"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    camera_browser.close()


def pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def added(page, text: str) -> None:
    """Wait until the main area shows `text` (md_escape puts zero-width spaces into names)."""
    try:
        page.wait_for_function(
            "t => document.querySelector('[data-testid=stMain]').innerText"
            ".replaceAll('\u2060', '').includes(t)",
            arg=text,
            timeout=60_000,
        )
    except Exception:
        whole_page(page, "builder-failed")
        raise
    wait_idle(page)


def test_camera_files_drawing_and_burst_land_in_their_class(camera_page, server, tmp_path) -> None:
    page = camera_page
    open_page(page, server, "")  # Home first, as a student arriving would
    page.get_by_role("heading", level=1).first.wait_for(timeout=120_000)
    open_page(page, server, "make-dataset")
    page.get_by_label("New dataset").fill("webcam set")
    page.get_by_role("button", name="Create dataset").click()
    added(page, "now add a class or two")
    for name in ("red card", "blue"):
        page.get_by_label("New class").fill(name)
        page.get_by_role("button", name="Add class").click()
        added(page, f"Added class {name}")
    folder = MADE / "webcam set"
    # the class just added (blue) is picked; pick "red card" for the camera
    page.get_by_test_id("stButtonGroup").first.get_by_text("red card (0)").click()
    wait_idle(page)
    take = page.get_by_role("button", name="Take Photo")
    take.wait_for(timeout=30_000)
    page.wait_for_timeout(2500)  # the fake camera's first frames
    take.click()
    added(page, "Added 1 sample(s) to red card.")
    shot = pngs(folder / "red card")
    assert len(shot) == 1 and shot[0].name.startswith("local--")
    red = Image.open(shot[0]).convert("RGB").getpixel((Image.open(shot[0]).width // 2, 60))
    assert red[0] > 150 and red[1] < 100  # the red card, seen by the camera

    page.get_by_test_id("stButtonGroup").first.get_by_text("blue (0)").click()
    page.get_by_test_id("stButtonGroup").nth(1).get_by_text("Files", exact=True).click()
    wait_idle(page)
    files = []
    for i in range(3):
        files.append(tmp_path / f"blue{i}.png")
        Image.new("RGB", (50, 40), (20, 30, 200 + i)).save(files[-1])
    (tmp_path / "notes.png").write_bytes(b"not an image at all")
    page.locator("[data-testid=stFileUploaderDropzone] input[type=file]").set_input_files(
        [*map(str, files), str(tmp_path / "notes.png")]
    )
    page.get_by_role("button", name="Add 4 file(s) to blue").click()
    added(page, "Added 3 sample(s) to blue. 1 file(s) are not images")
    assert len(pngs(folder / "blue")) == 3

    page.get_by_test_id("stButtonGroup").nth(1).get_by_text("Draw", exact=True).click()
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 220, box["y"] + 220, steps=12)
    page.mouse.up()
    page.get_by_role("button", name="Add drawing to blue").click(timeout=30_000)
    added(page, "Added 1 sample(s) to blue.")
    assert len(pngs(folder / "blue")) == 4
    whole_page(page, "builder-classes")

    page.get_by_test_id("stButtonGroup").nth(1).get_by_text("Record", exact=True).click()
    wait_idle(page)
    frame = page.frame_locator("iframe[title*='streamlit_webrtc']").first
    frame.get_by_role("button", name="START").click(timeout=60_000)
    frame.get_by_role("button", name="STOP").wait_for(timeout=60_000)  # the video plays
    page.get_by_test_id("stCheckbox").filter(has_text="Record").click()
    page.wait_for_timeout(3000)  # ~15 frames at 5 a second
    add = page.get_by_role("button", name="Add ").filter(has_text="frames to blue")
    add.wait_for(timeout=30_000)
    add.click()
    added(page, "sample(s) to blue.")
    burst = len(pngs(folder / "blue")) - 4
    assert 3 <= burst <= 200, burst
    added(page, "Add 0 frames to blue")  # the buffer is empty and stays so: recording stopped
    whole_page(page, "builder-record")
