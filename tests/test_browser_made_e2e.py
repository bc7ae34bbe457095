"""Issue 15 end to end, in real browsers with Chromium's fake camera: make a dataset of two
classes on the Make-a-dataset page from two clips (a vertical and a horizontal bright bar, one
Chromium launch per clip: Chromium takes one fake-capture file per launch; the same server),
with camera shots, a recorded WebRTC burst and mouse drawings; press "Train on this dataset",
train through the Train form, and check that Classify's live camera names the class of the clip
being shown, for each clip. Also: two browsers adding files to one dataset at once lose nothing.

Screenshots go to .artifacts/screenshots/ (made-e2e-*.png).
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from cnnlab.data import made
from cnnlab.runs import ACTIVE, list_runs
from tests.browser import Server, open_page, screenshot, wait_idle
from tests.camera_clips import (
    camera_page,
    live_prediction,
    pattern_frame,
    settled_prediction,
    start_live,
    write_clip,
)
from tests.test_browser_understand import whole_page

pytestmark = pytest.mark.browser
MADE = Path(tempfile.mkdtemp(prefix="cnnlab-made-e2e-"))
SERVER_SETTINGS = {"CNNLAB_DATASETS": str(MADE)}
DATASET = "bars e2e"
CLASSES = {"vertical": "standing bar", "horizontal": "lying bar"}  # clip pattern -> class name
SHOTS = 4  # camera shots per class
BURST = 12  # at least this many recorded frames per class (5 a second)
STROKES = {  # pattern -> one mouse path per drawing on the 280 x 280 canvas, (x, y) points
    "vertical": [[(140, 20), (146, 140), (136, 260)], [(110, 30), (104, 140), (116, 250)]],
    "horizontal": [[(20, 140), (140, 146), (260, 136)], [(30, 170), (140, 164), (250, 176)]],
}
WJ = "\u2060"  # md_escape's word joiner


def main_text(page: object) -> str:
    text = page.inner_text("[data-testid=stMain]")  # type: ignore[attr-defined]
    return text.replace(WJ, "")


def shows(page: object, text: str, timeout_ms: int = 60_000) -> None:
    """Wait until the main area shows `text` (word joiners stripped), then for the run's end."""
    try:
        page.wait_for_function(  # type: ignore[attr-defined]
            "t => document.querySelector('[data-testid=stMain]').innerText"
            f".replaceAll('{WJ}', '').includes(t)",
            arg=text,
            timeout=timeout_ms,
        )
    except Exception:
        whole_page(page, "made-e2e-failed")
        raise
    wait_idle(page)


def on_disk(name: str) -> int:
    """Samples of class `name` in the made dataset, by the made-dataset API."""
    counts = {c.name: c.count for c in made.classes(made.open_dataset(DATASET, MADE))}
    return counts.get(name, 0)


def add_count(page: object, name: str, before: int) -> int:
    """Wait until the class picker shows more than `before` samples of `name`; the new count."""
    picker = page.get_by_test_id("stButtonGroup").first  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(rf"{re.escape(name)} \((\d+)\)", picker.inner_text().replace(WJ, ""))
        if match and int(match.group(1)) > before:
            wait_idle(page)
            return int(match.group(1))
        page.wait_for_timeout(200)  # type: ignore[attr-defined]
    whole_page(page, "made-e2e-failed")
    raise AssertionError(f"{name} still has {before} sample(s): {main_text(page)[-600:]!r}")


def open_builder(page: object, server: Server) -> None:
    open_page(page, server, "")  # Home first, as a student arriving would
    page.get_by_role("heading", level=1).first.wait_for(timeout=120_000)  # type: ignore[attr-defined]
    open_page(page, server, "make-dataset")
    page.get_by_role("heading", name="Make a dataset").wait_for(timeout=60_000)  # type: ignore[attr-defined]


def create_dataset(page: object) -> None:
    page.get_by_label("New dataset").fill(DATASET)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Create dataset").click()  # type: ignore[attr-defined]
    shows(page, f"Created {DATASET}: now add a class or two")
    for name in CLASSES.values():
        page.get_by_label("New class").fill(name)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Add class").click()  # type: ignore[attr-defined]
        shows(page, f"Added class {name}")


def pick(page: object, group: int, label: str) -> None:
    """Click `label` in the page's `group`-th segmented control (0: class, 1: source)."""
    buttons = page.get_by_test_id("stButtonGroup").nth(group)  # type: ignore[attr-defined]
    buttons.get_by_text(label, exact=True).click()
    wait_idle(page)


def camera_shots(page: object, name: str, count: int) -> int:
    """Take `count` photos with "Take a photo" (each is added at once); the class's count."""
    pick(page, 1, "Camera")
    have = on_disk(name)
    for i in range(count):
        take = page.get_by_role("button", name="Take Photo")  # type: ignore[attr-defined]
        take.wait_for(timeout=30_000)
        page.wait_for_timeout(2500 if i == 0 else 800)  # type: ignore[attr-defined]  # frames
        take.click()
        have = add_count(page, name, have)
        page.get_by_role("button", name="Clear photo").click()  # type: ignore[attr-defined]
        wait_idle(page)
    return have


def record_burst(page: object, name: str, at_least: int) -> int:
    """START the video, turn Record on until `at_least` frames are kept, add them."""
    have = on_disk(name)
    pick(page, 1, "Record")
    frame = page.frame_locator("iframe[title*='streamlit_webrtc']").first  # type: ignore[attr-defined]
    frame.get_by_role("button", name="START").click(timeout=60_000)
    frame.get_by_role("button", name="STOP").wait_for(timeout=60_000)  # the video plays
    page.wait_for_timeout(1500)  # type: ignore[attr-defined]  # frames reach the server
    page.get_by_test_id("stCheckbox").filter(has_text="Record").click()  # type: ignore[attr-defined]
    metric = page.get_by_test_id("stMetricValue").first  # type: ignore[attr-defined]
    deadline = time.monotonic() + 40
    while int(metric.inner_text() or 0) < at_least:
        assert time.monotonic() < deadline, f"only {metric.inner_text()} frames recorded"
        page.wait_for_timeout(300)  # type: ignore[attr-defined]
    page.get_by_role("button", name=re.compile(rf"^Add \d+ frames to {name}")).click()  # type: ignore[attr-defined]
    have = add_count(page, name, have)
    frame.get_by_role("button", name="STOP").click()
    wait_idle(page)
    return have


def drawings(page: object, name: str, strokes: list) -> int:
    """One mouse drawing per path, each added with "Add drawing to <class>"."""
    pick(page, 1, "Draw")
    have = on_disk(name)
    for path in strokes:
        canvas = page.locator("canvas.upper-canvas").first  # type: ignore[attr-defined]
        canvas.wait_for(timeout=30_000)
        canvas.scroll_into_view_if_needed()  # the mouse draws inside the viewport only
        page.wait_for_timeout(1000)  # type: ignore[attr-defined]  # the canvas settles in place
        box = canvas.bounding_box()
        (x0, y0), *rest = path
        # the hand comes in over the canvas first (fabric.js drops a press with no hover before
        # it once the page's focus was in another component's frame, e.g. the video's)
        page.mouse.move(box["x"] + 140, box["y"] + 140)  # type: ignore[attr-defined]
        page.mouse.move(box["x"] + x0, box["y"] + y0, steps=5)  # type: ignore[attr-defined]
        page.wait_for_timeout(200)  # type: ignore[attr-defined]
        page.mouse.down()  # type: ignore[attr-defined]
        for x, y in rest:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=10)  # type: ignore[attr-defined]
        page.mouse.up()  # type: ignore[attr-defined]
        add = page.get_by_role("button", name=f"Add drawing to {name}")  # type: ignore[attr-defined]
        try:
            add.click(timeout=30_000)
        except Exception:
            whole_page(page, "made-e2e-failed")
            raise
        have = add_count(page, name, have)
    return have


def capture(page: object, kind: str) -> dict[str, int]:
    """Samples of the clip's class from camera shots, a burst and drawings; counts per source."""
    name = CLASSES[kind]
    pick(page, 0, f"{name} ({on_disk(name)})")
    start = on_disk(name)
    shots = camera_shots(page, name, SHOTS)
    burst = record_burst(page, name, BURST)
    drawn = drawings(page, name, STROKES[kind])
    return {"shots": shots - start, "burst": burst - shots, "drawn": drawn - burst}


def train(page: object, server: Server) -> str:
    """Press "Train on this dataset" (at 32 pixels), then Train with few epochs; the run id."""
    slider = page.get_by_test_id("stSlider").filter(has_text="Train at").get_by_role("slider")  # type: ignore[attr-defined]
    slider.focus()
    slider.press("Home")  # 32 pixels, the smallest
    wait_idle(page)
    page.get_by_role("button", name="Train on this dataset").click()  # type: ignore[attr-defined]
    page.get_by_text("Hyperparameters").first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
    wait_idle(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Batch size").click()  # type: ignore[attr-defined]
    page.get_by_role("option", name="16", exact=True).click()  # type: ignore[attr-defined]
    epochs = page.get_by_label("Epochs", exact=True)  # type: ignore[attr-defined]
    epochs.fill("30")  # ~3 steps an epoch: BatchNorm's running statistics need ~50 steps
    epochs.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name=re.compile(r"^Train\b")).click()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        runs = list_runs(server.runs_dir)
        if runs and all(r.status not in ACTIVE for r in runs):
            break
        time.sleep(0.5)
    runs = list_runs(server.runs_dir)
    assert len(runs) == 1 and runs[0].status == "finished", [(r.run_id, r.status) for r in runs]
    return runs[0].run_id


def live_class(page: object, server: Server) -> list[str]:
    """Classify's live camera on the trained run: the settled top class (word joiners gone)."""
    start_live(page, server, timeout_ms=90_000)
    page.wait_for_timeout(1500)  # type: ignore[attr-defined]
    return [n.replace(WJ, "") for n in settled_prediction(page, reads=4)]


def test_made_from_two_clips_trains_and_live_names_each_clip(browser, server, tmp_path) -> None:
    clips = {kind: write_clip(tmp_path / f"{kind}.y4m", kind) for kind in CLASSES}
    began = time.monotonic()
    added = {}
    with camera_page(browser, server, clips["vertical"]) as page:
        open_builder(page, server)
        create_dataset(page)
        added["vertical"] = capture(page, "vertical")
    with camera_page(browser, server, clips["horizontal"]) as page:
        open_builder(page, server)  # a new session: the only dataset is picked
        added["horizontal"] = capture(page, "horizontal")
        whole_page(page, "made-e2e-builder")
        for kind, name in CLASSES.items():  # every sample is on disk, in its class
            assert on_disk(name) == sum(added[kind].values()), (kind, added[kind])
            assert added[kind]["shots"] == SHOTS and added[kind]["burst"] >= BURST
            assert added[kind]["drawn"] == len(STROKES[kind])
        captured = time.monotonic()
        run_id = train(page, server)
        trained = time.monotonic()
        seen = {"horizontal": live_class(page, server)}
        screenshot(page, "made-e2e-live-horizontal")
    with camera_page(browser, server, clips["vertical"]) as page:
        seen["vertical"] = live_class(page, server)
        screenshot(page, "made-e2e-live-vertical")
        assert live_prediction(page)[1] > 0.5
    for kind, names in seen.items():
        assert names == [CLASSES[kind]] * len(names), f"clip of a {kind} bar, read {names}"
    sample = next((MADE / DATASET / CLASSES["vertical"]).glob("*.png"))
    assert Image.open(sample).size[0] >= 32  # a real picture, stored as a PNG
    print(f"capture {captured - began:.0f} s, train {trained - captured:.0f} s ({run_id}), "
          f"live {time.monotonic() - trained:.0f} s; samples {added}")  # fmt: skip


def test_two_browsers_adding_files_at_once_lose_nothing(browser, server, tmp_path) -> None:
    """Two sessions drop files into one class of one dataset and press Add at the same moment:
    every sample is there afterwards, each a whole PNG."""
    name, per_browser = "two at once", 25
    made.add_class(made.create_dataset(name, None, MADE), "bars", None)
    pages, contexts = [], []
    for b in range(2):
        contexts.append(browser.new_context(viewport={"width": 1400, "height": 1000}))
        page = contexts[-1].new_page()
        page.set_default_timeout(30_000)
        open_builder(page, server)
        page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
        page.get_by_role("option", name=name, exact=True).click()
        shows(page, "bars (0)")
        pick(page, 1, "Files")
        files = []
        for i in range(per_browser):
            files.append(tmp_path / f"b{b}-{i}.png")
            kind = ("vertical", "horizontal")[i % 2]
            Image.fromarray(pattern_frame(kind, seed=1 + i + 100 * b)).save(files[-1])
        page.locator("[data-testid=stFileUploaderDropzone] input[type=file]").set_input_files(
            [str(f) for f in files]
        )
        page.get_by_role("button", name=f"Add {per_browser} file(s) to bars").wait_for()
        pages.append(page)
    try:
        for page in pages:  # both presses before either page's run is over
            button = page.get_by_role("button", name=f"Add {per_browser} file(s) to bars")
            button.click(no_wait_after=True)
        for page in pages:
            shows(page, f"Added {per_browser} sample(s) to bars.")
        folder = MADE / name / "bars"
        stored = sorted(folder.glob("*.png"))
        assert (
            len(stored) == 2 * per_browser == made.classes(made.open_dataset(name, MADE))[0].count
        )
        assert all(Image.open(f).size == (160, 120) for f in stored)  # none torn
        pick(pages[0], 1, "Draw")  # any rerun: it sees the other browser's samples too
        shows(pages[0], f"bars ({2 * per_browser})")
    finally:
        for context in contexts:
            context.close()
