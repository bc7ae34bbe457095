"""Real-browser test of Classify's live camera: Chromium's fake camera plays a clip of a bright
bar (vertical or horizontal) to the server over WebRTC (loopback, no ICE servers), and the live
prediction beside the video names the clip's pattern, with a model trained in the test on a
tiny folder dataset of the two patterns (~5 s of training through the CLI). One Chromium per
clip. Also: the Pause freezes the prediction, Grad-CAM still predicts, and the measured rate.

Screenshots go to .artifacts/screenshots/ (classify-live-*.png).
"""

from __future__ import annotations

import re

import pytest

from cnnlab.stream import PANEL_COLOUR
from tests.browser import Server, screenshot, wait_idle
from tests.camera_clips import (
    PATTERNS,
    camera_page,
    live_prediction,
    returned_video,
    settled_prediction,
    start_live,
    top_bar_share,
    train_folder_run,
    write_clip,
    write_pattern_dataset,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def bars_run(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A classic CNN trained on 40 + 40 pictures of a vertical and a horizontal bar."""
    folder = write_pattern_dataset(tmp_path_factory.mktemp("bars") / "bars")
    return train_folder_run(server.runs_dir, folder)


def rate_shown(page: object) -> float:
    metric = page.get_by_test_id("stMetricValue").first.inner_text()  # type: ignore[attr-defined]
    return float(metric) if re.fullmatch(r"[\d.]+", metric) else 0.0


@pytest.mark.parametrize("kind", PATTERNS)
def test_live_prediction_names_the_pattern_on_camera(browser, server, bars_run, tmp_path, kind):
    clip = write_clip(tmp_path / f"{kind}.y4m", kind)
    with camera_page(browser, server, clip) as page:
        start_live(page, server)
        page.wait_for_timeout(2000)  # the rate window fills
        names, rates = [], []
        for _ in range(4):  # the answer holds while the stream runs
            names += settled_prediction(page, reads=1)
            rates.append(rate_shown(page))
        assert names == [kind] * len(names), f"clip of a {kind} bar, read {names}"
        assert live_prediction(page)[1] > 0.5
        # the clip plays at 10 frames/s; the stream predicts nearly all of them (never queues)
        assert max(rates) >= 5.0, f"{rates} predictions/s"
        # the frames coming back carry the prediction: the top class's bar, bottom left
        assert top_bar_share(returned_video(page), PANEL_COLOUR) > 0.02
        screenshot(page, f"classify-live-{kind}")
        if kind == PATTERNS[0]:
            check_grad_cam_and_pause(page, kind)


def check_grad_cam_and_pause(page: object, kind: str) -> None:
    page.get_by_text("Grad-CAM", exact=True).click()  # type: ignore[attr-defined]
    wait_idle(page)
    page.get_by_text("Grad-CAM on:").wait_for(timeout=30_000)  # type: ignore[attr-defined]
    assert settled_prediction(page, reads=2) == [kind, kind]
    screenshot(page, "classify-live-gradcam")
    page.get_by_text("Pause", exact=True).click()  # type: ignore[attr-defined]
    wait_idle(page)
    page.get_by_text("Frozen: turn Pause off").wait_for(timeout=30_000)  # type: ignore[attr-defined]
    metric = page.get_by_test_id("stMetricValue").first  # type: ignore[attr-defined]
    assert metric.inner_text() == "paused"
    screenshot(page, "classify-live-paused")
