"""Classifying a live camera stream: one video frame in, the prediction drawn onto it out.

A frame is an RGB numpy array (H, W, 3) uint8 (a 640x480 webcam picture). It is prepared by
`cnnlab.inference.prepare_steps` with the run's saved `Preprocess`, exactly as a still photo is
on the Classify page, then predicted; the top classes and their probabilities are drawn onto the
frame with PIL, with the network's input (and its Grad-CAM map when asked) as an inset.

`LiveClassifier` is the thread-safe holder between the page (which sets the model and the options
on every rerun) and the video thread (which calls `process` for each frame). It never queues:
a frame that arrives while another is being predicted, or sooner than `max_rate` allows, gets the
last prediction drawn on it instead (a cheap copy), so the video never lags behind the camera.
No streamlit or av here: the page converts av frames to and from numpy.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont
import torch
from torch import nn

from cnnlab.config import Preprocess
from cnnlab.explain import default_cam_layer, feature_maps, grad_cam, overlay
from cnnlab.inference import predict_images, prepare_steps

RATE_WINDOW_S = 2.0  # seconds of predictions the rate figure averages over
MAX_RATE = 15.0  # predictions/s at most (the camera sends ~15 frames/s): spares the shared CPU
LABEL_CHARS = 22  # class names are cut to this many characters on the frame
PANEL_COLOUR = (255, 196, 0)  # the bars of the top class; the others are light grey


@dataclass(frozen=True)
class LiveModel:
    """What a live stream needs from a trained run."""

    run_id: str
    model: nn.Module  # eval mode; shared (cached) between sessions: never mutated here
    class_names: list[str]
    preprocess: Preprocess


@dataclass(frozen=True)
class LiveOptions:
    """The page's choices, read by the video thread for each frame."""

    top_k: int = 3  # classes drawn on the frame
    invert: bool | None = None  # colour inversion (None = automatic, as for photos)
    fit: str | None = None  # "crop" | "pad" for photo models; None = the run's own
    grad_cam: bool = False  # Grad-CAM of the top class on the inset (a backward pass: slower)
    alpha: float = 0.45  # heat-map opacity on the inset, 0..1
    paused: bool = False  # freeze the picture and its prediction
    max_rate: float = MAX_RATE  # predictions/s at most; 0 = as fast as frames come


@dataclass(frozen=True, eq=False)
class LiveResult:
    """One frame's prediction."""

    run_id: str
    top: tuple[tuple[str, float], ...]  # every class (name, probability), most likely first
    x: torch.Tensor | None  # uint8 (C, H, W): the frame as the network saw it
    heat: np.ndarray | None = None  # float32 (H, W) in [0, 1]: Grad-CAM of the top class
    blank: str = ""  # "nothing to read here: ..." (then `top` is empty)
    ms: float = 0.0  # milliseconds from frame to prediction (prepare + forward + Grad-CAM)


@dataclass(frozen=True)
class LiveStatus:
    """What the page shows beside the video."""

    result: LiveResult | None
    rate: float  # predictions/s over the last RATE_WINDOW_S seconds (0 when none)
    ms: float  # smoothed milliseconds per prediction
    frames: int  # frames received
    predicted: int  # frames predicted
    dropped: int  # frames that came while busy or too soon (the last prediction drawn instead)
    paused: bool


class RateMeter:
    """Events per second over a sliding window of `window_s` seconds (0 when the last event is
    older than the window: a stopped stream reads 0, not its last rate)."""

    def __init__(
        self, window_s: float = RATE_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ):
        if window_s <= 0:
            raise ValueError(f"window_s must be above 0, got {window_s}")
        self.window_s = window_s
        self.clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            now = self.clock()
            self._times.append(now)
            self._trim(now)

    def rate(self) -> float:
        with self._lock:
            now = self.clock()
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        with self._lock:
            self._times.clear()

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


def check_frame(frame: np.ndarray) -> np.ndarray:
    """The frame itself when it is RGB uint8 (H, W, 3), else ValueError saying what it is."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        kind = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"a frame must be a uint8 numpy array (H, W, 3), got {kind}")
    if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
        raise ValueError(f"a frame must be RGB of shape (H, W, 3), got {frame.shape}")
    return frame


def predict_frame(
    frame: np.ndarray, live: LiveModel, options: LiveOptions, cam_layer: str | None = None
) -> LiveResult:
    """Prepare an RGB frame (H, W, 3) uint8 as a still photo is, predict it, and with
    `options.grad_cam` and a `cam_layer` add the top class's Grad-CAM map."""
    start = time.perf_counter()
    img = PIL.Image.fromarray(check_frame(frame))
    prepared = prepare_steps(img, live.preprocess, options.invert, fit=options.fit)
    if prepared.blank or prepared.x is None:
        ms = (time.perf_counter() - start) * 1000
        return LiveResult(live.run_id, (), prepared.x, blank=prepared.blank, ms=ms)
    k = len(live.class_names)
    prediction = predict_images(live.model, [prepared.x], live.class_names, k=k)[0]
    heat = None
    if options.grad_cam and cam_layer:
        top = int(np.argmax(prediction.probs))
        heat = grad_cam(live.model, prepared.x, top, layer=cam_layer)
    ms = (time.perf_counter() - start) * 1000
    return LiveResult(live.run_id, tuple(prediction.top), prepared.x, heat=heat, ms=ms)


def has_conv(model: nn.Module) -> bool:
    """Whether the model has a conv layer (Grad-CAM needs one)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def cam_layer_for(model: nn.Module, x: torch.Tensor) -> str | None:
    """The Grad-CAM layer for input x (C, H, W): the last conv with maps bigger than 1x1;
    None when the model has no conv layer."""
    maps = feature_maps(model, x)
    return default_cam_layer(maps) if maps else None


@functools.lru_cache(maxsize=8)
def _font(size: int) -> PIL.ImageFont.FreeTypeFont | PIL.ImageFont.ImageFont:
    return PIL.ImageFont.load_default(size=size)


def _inset(result: LiveResult, options: LiveOptions, side: int) -> PIL.Image.Image | None:
    """The network's input (with the Grad-CAM colours when there are some), `side` px square-ish."""
    if result.x is None:
        return None
    x = result.x
    if result.heat is not None:
        picture = overlay(x, result.heat, options.alpha)
    else:
        arr = x.numpy()  # (C, H, W)
        picture = PIL.Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.convert("RGB").resize(size, PIL.Image.Resampling.NEAREST)


def _shade(arr: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Darken arr[y0:y1, x0:x1] in place to 35% (a panel the text stays readable on)."""
    x0, y0, x1, y1 = box
    region = arr[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    region[...] = (region.astype(np.uint16) * 90 >> 8).astype(np.uint8)


def _lines(result: LiveResult | None, options: LiveOptions) -> list[tuple[str, float | None]]:
    """(text, probability or None) rows for the panel."""
    if result is None:
        return [("waiting for the first prediction…", None)]
    if result.blank:
        return [("nothing to read here", None), ("show something with detail", None)]
    rows: list[tuple[str, float | None]] = []
    for name, p in result.top[: max(1, options.top_k)]:
        label = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
        rows.append((f"{label}  {p:.0%}", p))
    return rows


def draw_result(
    frame: np.ndarray, result: LiveResult | None, options: LiveOptions, note: str = ""
) -> np.ndarray:
    """A copy of the RGB frame (H, W, 3) uint8 with the top classes as labelled bars at the bottom
    left, the network's input as an inset at the top right and `note` (the rate) at the top left."""
    arr = check_frame(frame).copy()
    h, w = arr.shape[:2]
    size = max(10, h // 24)  # text height, px: 20 on a 480-line frame
    pad = max(2, size // 3)
    rows = _lines(result, options)
    panel_w = min(w, 15 * size)
    top = h - len(rows) * (size + 2 * pad) - pad
    _shade(arr, (0, top, panel_w, h))
    if note:
        _shade(arr, (0, 0, min(w, len(note) * size // 2 + 3 * pad), size + 2 * pad))
    img = PIL.Image.fromarray(arr)
    draw = PIL.ImageDraw.Draw(img)
    font = _font(size)
    for i, (text, p) in enumerate(rows):
        y = top + pad + i * (size + 2 * pad)
        if p is not None:  # the bar behind the text: its length is the probability
            colour = PANEL_COLOUR if i == 0 else (150, 150, 150)
            draw.rectangle((pad, y, pad + round(p * (panel_w - 2 * pad)), y + size + pad), colour)
        draw.text((2 * pad, y + pad // 2), text, fill=(255, 255, 255), font=font,
                  stroke_width=1, stroke_fill=(0, 0, 0))  # fmt: skip
    if note:
        draw.text((pad, pad), note, fill=(255, 255, 255), font=font)
    inset = _inset(result, options, max(16, h // 3)) if result is not None else None
    if inset is not None:
        x0 = w - inset.width - pad
        draw.rectangle((x0 - 2, pad - 2, x0 + inset.width + 1, pad + inset.height + 1), "white")
        img.paste(inset, (x0, pad))
    return np.asarray(img)


class LiveClassifier:
    """Thread-safe: the page calls `configure` (any thread), the video thread calls `process` for
    each frame and the page reads `status`. At most one frame is predicted at a time; the others
    are never queued (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # guards the fields below
        self._busy = threading.Lock()  # held while one frame is predicted
        self._live: LiveModel | None = None
        self._options = LiveOptions()
        self._result: LiveResult | None = None
        self._frozen: np.ndarray | None = None  # the picture shown while paused
        self._last_out: np.ndarray | None = None
        self._last_start = -float("inf")  # clock time the last prediction started
        self._layer: tuple[nn.Module, str | None] | None = None  # Grad-CAM layer per model
        self._ms = 0.0
        self._counts = {"frames": 0, "predicted": 0, "dropped": 0}
        self.meter = RateMeter(RATE_WINDOW_S, clock)

    def configure(self, live: LiveModel | None, options: LiveOptions) -> None:
        """Set the model and the options; a different run or model forgets the last result."""
        with self._lock:
            old = self._live
            if old is None or live is None or (old.run_id, old.model) != (live.run_id, live.model):
                self._result, self._last_out, self._frozen = None, None, None
                self.meter.reset()
            if not options.paused:
                self._frozen = None
            self._live, self._options = live, options

    def status(self) -> LiveStatus:
        with self._lock:
            return LiveStatus(
                self._result, self.meter.rate(), self._ms, self._counts["frames"],
                self._counts["predicted"], self._counts["dropped"], self._options.paused,
            )  # fmt: skip

    def process(self, frame: np.ndarray) -> np.ndarray:
        """The frame (H, W, 3) uint8 RGB with the prediction drawn on it."""
        check_frame(frame)
        with self._lock:
            self._counts["frames"] += 1
            live, options = self._live, self._options
            if options.paused:
                if self._frozen is None:  # freeze the last picture shown (or this frame)
                    base = self._last_out if self._last_out is not None else frame
                    self._frozen = _with_note(base, "paused")
                return self._frozen
        if live is None:
            return draw_result(frame, None, options, "no model")
        if not self._busy.acquire(blocking=False):  # another frame is being predicted
            return self._reuse(frame, options)
        try:
            now = self._clock()
            if options.max_rate > 0 and now - self._last_start < 1 / options.max_rate:
                return self._reuse(frame, options)
            self._last_start = now
            result = predict_frame(frame, live, options, self._cam_layer(live, frame, options))
            self.meter.tick()
        finally:
            self._busy.release()
        return self._store(frame, live, options, result)

    def _store(
        self, frame: np.ndarray, live: LiveModel, options: LiveOptions, result: LiveResult
    ) -> np.ndarray:
        out = draw_result(frame, result, options, f"{self.meter.rate():.1f} predictions/s")
        with self._lock:
            self._counts["predicted"] += 1
            self._ms = result.ms if self._ms == 0 else 0.8 * self._ms + 0.2 * result.ms
            if self._live is not None and self._live.run_id == live.run_id:
                self._result, self._last_out = result, out
        return out

    def _reuse(self, frame: np.ndarray, options: LiveOptions) -> np.ndarray:
        """The last prediction drawn on this frame (no model call)."""
        with self._lock:
            self._counts["dropped"] += 1
            result = self._result
        return draw_result(frame, result, options, f"{self.meter.rate():.1f} predictions/s")

    def _cam_layer(self, live: LiveModel, frame: np.ndarray, options: LiveOptions) -> str | None:
        """The Grad-CAM layer of this model, found once (a forward pass with hooks)."""
        if not options.grad_cam:
            return None
        if self._layer is None or self._layer[0] is not live.model:
            # any input will do: only the shapes of the maps matter
            x = torch.zeros(live.preprocess.input_shape, dtype=torch.uint8)
            self._layer = (live.model, cam_layer_for(live.model, x))
        return self._layer[1]


def _with_note(frame: np.ndarray, note: str) -> np.ndarray:
    """The frame with `note` in big letters at its centre (the "paused" mark)."""
    img = PIL.Image.fromarray(frame.copy())
    h, w = frame.shape[:2]
    font = _font(max(12, h // 10))
    draw = PIL.ImageDraw.Draw(img)
    draw.text((w // 2, h // 2), note, fill=(255, 255, 255), font=font, anchor="mm",
              stroke_width=3, stroke_fill=(0, 0, 0))  # fmt: skip
    return np.asarray(img)
