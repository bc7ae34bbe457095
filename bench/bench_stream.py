"""Predictions per second of Classify's live camera path, on one torch thread (as the server).

  .venv/bin/python bench/bench_stream.py              # target: >= 5 predictions/s with a small model
  .venv/bin/python bench/bench_stream.py --seconds 2  # a quicker look

The path of one webcam frame: a decoded 640x480 yuv420p `av.VideoFrame` (what aiortc hands the
callback) -> RGB numpy -> `cnnlab.stream.LiveClassifier.process` (prepared like a still photo by
`inference.prepare_steps`, predicted, top-k bars and the input inset drawn with PIL) -> a new
`av.VideoFrame`. Exactly the page's callback, without the network and the browser's encoder.
Measured as frames through per second (no rate cap, every frame predicted), without and with
Grad-CAM, plus the time of each stage. Models: the seed notebook's classic CNN and the recipes'
FastNet, at the shapes input (3x32x32 colour, photo style: centre crop) and the MNIST input
(1x28x28, digit style: the ink is found, cropped and centred). Random weights: the time does not
depend on them. Frames: synthetic (soft shading, noise and a dark shape; for digit models a dark
stroke on paper), four different ones in turn.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import av  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402

from cnnlab.config import ModelConfig, Preprocess  # noqa: E402
from cnnlab.device import set_threads  # noqa: E402
from cnnlab.explain import grad_cam  # noqa: E402
from cnnlab.inference import predict_images, prepare_steps  # noqa: E402
from cnnlab.models import build_model  # noqa: E402
from cnnlab.stream import (  # noqa: E402
    LiveClassifier,
    LiveModel,
    LiveOptions,
    cam_layer_for,
    draw_result,
    predict_frame,
)

INPUTS = {
    "shapes": Preprocess(input_shape=(3, 32, 32), mean=(0.5,) * 3, std=(0.25,) * 3, style="photo"),
    "mnist": Preprocess(input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,), style="digit"),
}
MODELS = ("classic", "fastnet")
CLASSES = [f"class {i}" for i in range(10)]


def frames(style: str, count: int = 4) -> list[av.VideoFrame]:
    """Decoded-like 640x480 yuv420p frames: a photo scene, or a dark stroke on light paper."""
    out = []
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    for seed in range(count):
        rng = np.random.default_rng(seed)
        if style == "digit":
            rgb = np.full((480, 640, 3), 210.0) + rng.normal(0, 6, (480, 640, 3))
            x0 = 280 + 20 * seed
            rgb[110:370, x0 : x0 + 28] = 30  # a "1"
            rgb[110:140, x0 - 40 : x0 + 28] = 30
        else:
            base = 150 + 60 * np.sin(xx / (80 + 10 * seed)) * np.cos(yy / 70)
            rgb = base[..., None] + rng.normal(0, 10, (480, 640, 3))
            rgb[(xx - 300 - 20 * seed) ** 2 + (yy - 240) ** 2 < 100**2] = 40
        img = np.clip(rgb, 0, 255).astype(np.uint8)
        out.append(av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p"))
    return out


def callback(classifier: LiveClassifier) -> Callable[[av.VideoFrame], av.VideoFrame]:
    """The page's video callback (pages/ui/classify_live.py) around `classifier`."""

    def run(frame: av.VideoFrame) -> av.VideoFrame:
        rgb = frame.to_ndarray(format="rgb24")
        return av.VideoFrame.from_ndarray(classifier.process(rgb), format="rgb24")

    return run


def throughput(live: LiveModel, video: list[av.VideoFrame], cam: bool, seconds: float) -> float:
    """Frames through the whole callback per second; every one is predicted (no rate cap)."""
    classifier = LiveClassifier()
    classifier.configure(live, LiveOptions(grad_cam=cam, max_rate=0))
    run = callback(classifier)
    run(video[0])  # warm-up (and the Grad-CAM layer lookup)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(video[done % len(video)])
        done += 1
    elapsed = time.perf_counter() - start
    assert classifier.status().dropped == 0, "a frame was dropped in a single-thread loop"
    return done / elapsed


def stage_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of `fn` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def row(data: str, model_name: str, seconds: float, repeats: int) -> str:
    pre = INPUTS[data]
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=model_name), pre, len(CLASSES)).eval()
    live = LiveModel(f"{data}-{model_name}", model, CLASSES, pre)
    video = frames(pre.resolved_style)
    rgb = video[0].to_ndarray(format="rgb24")
    x = prepare_steps(PIL.Image.fromarray(rgb), pre).x
    layer = cam_layer_for(model, x)
    result = predict_frame(rgb, live, LiveOptions(grad_cam=True), layer)
    stages = [
        stage_ms(lambda: av.VideoFrame.from_ndarray(video[0].to_ndarray(format="rgb24")), repeats),
        stage_ms(lambda: prepare_steps(PIL.Image.fromarray(rgb), pre), repeats),
        stage_ms(lambda: predict_images(model, [x], CLASSES, k=len(CLASSES)), repeats),
        stage_ms(lambda: draw_result(rgb, result, LiveOptions()), repeats),
        stage_ms(lambda: grad_cam(model, x, 0, layer=layer), repeats),
    ]
    rates = [throughput(live, video, cam, seconds) for cam in (False, True)]
    cells = [f"{ms:.1f}" for ms in stages] + [f"{r:.0f}" for r in rates]
    return (
        f"| {data} {'x'.join(map(str, pre.input_shape))} {model_name} | " + " | ".join(cells) + " |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput figure")
    parser.add_argument("--repeats", type=int, default=20, help="per stage timing")
    args = parser.parse_args()
    set_threads(1)  # as the app's server process (app.py): torch and numpy's BLAS on one thread
    print(
        f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; 640x480 frames; "
        f"stages: median ms of {args.repeats}; rates: frames/s over {args.seconds:g} s"
    )
    print(
        "| input, model | av in+out ms | prepare ms | predict ms | draw ms | Grad-CAM ms "
        "| predictions/s | with Grad-CAM /s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for data in INPUTS:
        for model_name in MODELS:
            print(row(data, model_name, args.seconds, args.repeats), flush=True)
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
