"""The live camera path (`cnnlab.stream`): a frame is prepared exactly as a still photo, predicted
with the run's classes, drawn on; the rate meter; frames dropped while busy or too soon; pause;
bad frames; the Classify page's Live camera mode (AppTest) and its https warning; the Y4M clips."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import PIL.Image
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from cnnlab import cli
from cnnlab.config import ModelConfig, Preprocess
from cnnlab.inference import predict_images, prepare_image
from cnnlab.models import build_model
from cnnlab.stream import (
    LiveClassifier,
    LiveModel,
    LiveOptions,
    RateMeter,
    draw_result,
    predict_frame,
)
from pages.ui import classify_live
from pages.ui.classify_live import HTTPS_MESSAGE, camera_blocked
from tests.camera_clips import pattern_frame, write_clip

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PHOTO = Preprocess(input_shape=(3, 32, 32), mean=(0.5,) * 3, std=(0.25,) * 3, style="photo")
DIGIT = Preprocess(input_shape=(1, 28, 28), mean=(0.13,), std=(0.31,), style="digit")
CLASSES = ["circle", "square", "triangle"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live_model(preprocess: Preprocess = PHOTO, classes: list[str] = CLASSES) -> LiveModel:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="classic"), preprocess, len(classes)).eval()
    return LiveModel("run-a", model, classes, preprocess)


def camera_frame(seed: int = 0) -> np.ndarray:
    """A 640x480 webcam-like RGB frame: smooth shading, noise and a dark disc off-centre."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    base = 150 + 60 * np.sin(xx / 90) * np.cos(yy / 70)
    rgb = base[..., None] + rng.normal(0, 10, (480, 640, 3)) + np.array([20, 0, -20])
    rgb[(xx - 380) ** 2 + (yy - 220) ** 2 < 90**2] = 30
    return np.clip(rgb, 0, 255).astype(np.uint8)


def digit_frame() -> np.ndarray:
    """A dark "1" on light paper, as a webcam sees a digit written on a sheet (640x480)."""
    frame = np.full((480, 640, 3), 215, dtype=np.uint8)
    frame[120:380, 305:335] = 25
    return frame


@pytest.mark.parametrize("preprocess", [PHOTO, DIGIT], ids=["photo", "digit"])
def test_frame_is_prepared_like_a_still_photo_and_predicted(preprocess: Preprocess) -> None:
    live = live_model(preprocess)
    frame = camera_frame() if preprocess is PHOTO else digit_frame()
    result = predict_frame(frame, live, LiveOptions())
    expected_x = prepare_image(PIL.Image.fromarray(frame), preprocess)
    assert result.x is not None and torch.equal(result.x, expected_x)
    assert not result.blank and result.run_id == "run-a"
    assert sorted(name for name, _ in result.top) == sorted(CLASSES)  # every class, once
    probs = [p for _, p in result.top]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1, abs=1e-5)
    still = predict_images(live.model, [expected_x], CLASSES, k=3)[0]
    assert [n for n, _ in result.top] == [n for n, _ in still.top]
    np.testing.assert_allclose([p for _, p in result.top], [p for _, p in still.top], atol=1e-6)
    assert result.heat is None and result.ms > 0


def test_options_reach_the_preparation_invert_and_fit() -> None:
    live = live_model()
    frame = camera_frame(1)
    options = LiveOptions(invert=True, fit="pad")
    result = predict_frame(frame, live, options)
    expected = prepare_image(PIL.Image.fromarray(frame), PHOTO, True, fit="pad")
    assert torch.equal(result.x, expected)


def test_grad_cam_map_has_the_input_size() -> None:
    live = live_model()
    classifier = LiveClassifier()
    classifier.configure(live, LiveOptions(grad_cam=True))
    out = classifier.process(camera_frame())
    heat = classifier.status().result.heat
    assert heat is not None and heat.shape == (32, 32) and 0 <= heat.min() <= heat.max() <= 1
    assert out.shape == (480, 640, 3) and out.dtype == np.uint8


def test_a_uniform_frame_is_nothing_to_read_and_still_drawn() -> None:
    live = live_model()
    frame = np.full((480, 640, 3), 128, dtype=np.uint8)
    result = predict_frame(frame, live, LiveOptions())
    assert result.blank.startswith("nothing to read here") and result.top == ()
    drawn = draw_result(frame, result, LiveOptions(), "1.0 predictions/s")
    assert drawn.shape == frame.shape and not np.array_equal(drawn, frame)


def test_drawn_frame_shows_the_result_and_leaves_the_input_alone() -> None:
    frame = camera_frame()
    before = frame.copy()
    result = predict_frame(frame, live_model(), LiveOptions())
    drawn = draw_result(frame, result, LiveOptions(top_k=2), "9.0 predictions/s")
    assert np.array_equal(frame, before)  # a copy was drawn on
    assert drawn.shape == frame.shape and drawn.dtype == np.uint8
    changed = np.any(drawn != frame, axis=2)  # (H, W)
    assert changed[-60:, :200].mean() > 0.3  # the bars, bottom left
    assert changed[:160, -170:].mean() > 0.5  # the network-input inset, top right
    assert changed[200:300, 250:450].mean() < 0.01  # the middle of the picture is untouched


@pytest.mark.parametrize(
    "frame",
    [np.zeros((48, 64), np.uint8), np.zeros((48, 64, 3), np.float32), np.zeros((48, 64, 4), np.uint8),
     "not a frame"],
    ids=["grey", "float", "rgba", "str"],
)  # fmt: skip
def test_a_bad_frame_gets_a_clear_message(frame) -> None:
    with pytest.raises(ValueError, match=r"a frame must be"):
        predict_frame(frame, live_model(), LiveOptions())


def test_rate_meter_counts_events_per_second_over_its_window() -> None:
    clock = FakeClock()
    meter = RateMeter(window_s=2.0, clock=clock)
    assert meter.rate() == 0
    meter.tick()
    assert meter.rate() == 0  # one event is no rate yet
    for _ in range(10):
        clock.now += 0.1
        meter.tick()
    assert meter.rate() == pytest.approx(10.0)
    for _ in range(30):  # slower: 4/s; the window forgets the fast part
        clock.now += 0.25
        meter.tick()
    assert meter.rate() == pytest.approx(4.0)
    clock.now += 2.5  # the stream stopped: no stale figure
    assert meter.rate() == 0
    with pytest.raises(ValueError, match="window_s"):
        RateMeter(window_s=0)


class SlowModel(nn.Module):
    """Logits for 3 classes after waiting for `release` (a prediction that takes a while)."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()
        self.calls = 0
        self.bias = nn.Parameter(torch.tensor([0.0, 1.0, 2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.started.set()
        assert self.release.wait(10)
        return self.bias.expand(len(x), 3)


def test_a_frame_arriving_while_busy_is_dropped_not_queued() -> None:
    model = SlowModel()
    classifier = LiveClassifier()
    classifier.configure(LiveModel("slow", model, CLASSES, PHOTO), LiveOptions(max_rate=0))
    frame = camera_frame()
    worker = threading.Thread(target=classifier.process, args=(frame,))
    worker.start()
    assert model.started.wait(10)
    t = time.perf_counter()
    out = classifier.process(frame)  # the model is busy with the first frame
    assert time.perf_counter() - t < 1.0  # returned at once, without waiting
    assert out.shape == frame.shape
    status = classifier.status()
    assert (status.frames, status.dropped, status.predicted, model.calls) == (2, 1, 0, 1)
    model.release.set()
    worker.join(10)
    status = classifier.status()
    assert (status.predicted, model.calls) == (1, 1)
    assert status.result.top[0][0] == "triangle"  # the largest logit


def test_frames_sooner_than_max_rate_reuse_the_last_prediction() -> None:
    clock = FakeClock()
    model = SlowModel()
    model.release.set()
    classifier = LiveClassifier(clock=clock)
    classifier.configure(LiveModel("slow", model, CLASSES, PHOTO), LiveOptions(max_rate=5))
    frame = camera_frame()
    for at in (0.0, 0.1, 0.25, 0.3, 0.5, 0.55):  # seconds; 5/s = one prediction per 0.2 s
        clock.now = 100.0 + at
        classifier.process(frame)
    status = classifier.status()
    assert model.calls == 3  # at 0, 0.25 and 0.5; the frames at 0.1, 0.3, 0.55 reuse the last
    assert (status.frames, status.predicted, status.dropped) == (6, 3, 3)


def test_pause_freezes_the_picture_and_a_new_run_forgets_the_last_result() -> None:
    live = live_model()
    classifier = LiveClassifier()
    classifier.configure(live, LiveOptions(max_rate=0))
    first = classifier.process(camera_frame(0))
    classifier.configure(live, LiveOptions(max_rate=0, paused=True))
    frozen = classifier.process(camera_frame(1))
    assert classifier.process(camera_frame(2)) is frozen  # the same picture, no new prediction
    assert classifier.status().predicted == 1 and classifier.status().paused
    assert np.any(frozen != first)  # the "paused" mark on the last picture shown
    classifier.configure(live, LiveOptions(max_rate=0))
    assert classifier.process(camera_frame(1)) is not frozen
    assert classifier.status().predicted == 2
    other = LiveModel("run-b", live.model, live.class_names, live.preprocess)
    classifier.configure(other, LiveOptions())
    assert classifier.status().result is None and classifier.status().rate == 0


def test_no_model_yet_still_returns_the_frame() -> None:
    classifier = LiveClassifier()
    frame = camera_frame()
    out = classifier.process(frame)
    assert out.shape == frame.shape and classifier.status().predicted == 0


@pytest.mark.parametrize(
    ("url", "blocked"),
    [
        ("http://localhost:8501/classify", False),
        ("http://127.0.0.1:8501/classify", False),
        ("http://127.0.1.1:8501/", False),
        ("http://[::1]:8501/classify", False),
        ("http://lab.localhost:8501/", False),
        ("https://192.168.1.20:8501/classify", False),
        ("http://192.168.1.20:8501/classify", True),
        ("http://lab.school.example:8501/classify", True),
        ("http://[fe80::1]:8501/", True),
    ],
)
def test_camera_blocked_on_plain_http_away_from_localhost(url: str, blocked: bool) -> None:
    assert camera_blocked(url) is blocked


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live") / "runs"
    args = ["--runs-dir", str(path), "train", "--dataset", "digits", "--epochs", "1"]
    assert cli.main([*args, "--threads", "1", "--quiet"]) == cli.EXIT_OK
    return path


class FakeStreamer:
    """Stands in for `webrtc_streamer` under AppTest (the component needs a real server session):
    sends one camera frame through the page's video callback, as the video thread would."""

    def __init__(self, playing: bool) -> None:
        self.playing = playing
        self.returned: list[np.ndarray] = []

    def __call__(self, **kwargs: object) -> SimpleNamespace:
        assert kwargs["async_processing"] is True and kwargs["key"] == "classify_live"
        if self.playing:
            frame = av.VideoFrame.from_ndarray(digit_frame(), format="rgb24")
            out = kwargs["video_frame_callback"](frame)
            self.returned.append(out.to_ndarray(format="rgb24"))
        return SimpleNamespace(state=SimpleNamespace(playing=self.playing))


def live_page(
    runs: Path, monkeypatch: pytest.MonkeyPatch, url: str | None, playing: bool = False
) -> AppTest:
    from streamlit.runtime.context import ContextProxy

    monkeypatch.setenv("CNNLAB_RUNS", str(runs))
    monkeypatch.setattr(ContextProxy, "url", property(lambda self: url))
    monkeypatch.setattr(classify_live, "webrtc_streamer", FakeStreamer(playing))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/classify.py").run()
    at.button_group[0].set_value("Live camera").run()
    return at


def test_classify_live_mode_waits_for_start(digits_runs: Path, monkeypatch) -> None:
    at = live_page(digits_runs, monkeypatch, "http://localhost:8501/classify")
    assert not at.exception and not at.error
    assert any("Press **Start**" in i.value for i in at.info)
    assert not at.warning  # localhost: the camera is allowed
    assert {t.label for t in at.toggle} >= {"Grad-CAM", "Pause"}


def test_classify_live_mode_shows_the_streams_prediction(digits_runs: Path, monkeypatch) -> None:
    at = live_page(digits_runs, monkeypatch, "http://127.0.0.1:8501/classify", playing=True)
    assert not at.exception and not at.error
    streamer = classify_live.webrtc_streamer
    assert len(streamer.returned) == 1 and streamer.returned[0].shape == (480, 640, 3)
    live = [m.value for m in at.markdown if m.value.startswith("Live: ")]
    assert len(live) == 1 and re.fullmatch(r"Live: \*\*\d\*\* \(\d+%\)", live[0]), live
    assert [m.label for m in at.metric] == ["Predictions per second"]


def test_classify_says_why_the_camera_is_blocked_on_plain_http(digits_runs, monkeypatch) -> None:
    at = live_page(digits_runs, monkeypatch, "http://192.168.1.20:8501/classify")
    assert not at.exception
    assert [w.value for w in at.warning] == [HTTPS_MESSAGE]
    at.button_group[0].set_value("Webcam").run()  # the photo camera needs https too
    assert [w.value for w in at.warning] == [HTTPS_MESSAGE]


def test_camera_clip_is_a_valid_y4m(tmp_path: Path) -> None:
    """The clip writer's output: the header, then FRAME + Y + U + V planes of the right sizes."""
    data = write_clip(tmp_path / "v.y4m", "vertical", frames=3).read_bytes()
    header, _, body = data.partition(b"\n")
    assert header == b"YUV4MPEG2 W160 H120 F10:1 Ip A1:1 C420jpeg"
    frame = len(b"FRAME\n") + 160 * 120 + 2 * 80 * 60
    assert len(body) == 3 * frame and body[:6] == b"FRAME\n"
    y = np.frombuffer(body[6 : 6 + 160 * 120], np.uint8).reshape(120, 160)
    assert y[60, 80] > 200 and y[60, 5] < 40  # a bright vertical bar on dark
    assert y[5, 80] > 200  # top to bottom
    horizontal = pattern_frame("horizontal")
    assert horizontal[60, 5].min() > 200 and horizontal[5, 80].max() < 40
