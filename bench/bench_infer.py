"""Classify one 12-megapixel JPEG from its bytes, as the Classify page does; plus dataset load times.

  .venv/bin/python bench/bench_infer.py            # targets: <= 250 ms, <= 500 ms with Grad-CAM

bytes -> `cnnlab.data.images.open_image` -> `cnnlab.inference.prepare_image` -> `predict_images`, and
the same plus `cnnlab.explain.grad_cam`, for the MNIST and CIFAR-10 recipes' models (untrained:
the weights do not change the time). One torch thread, as the app's server process sets. The
photo is synthetic (4000x3000, smooth shading + noise + a dark shape, JPEG quality 90), so the file
size and decode cost are those of a phone photo. Load times: cold = empty cache folder.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import PIL.ImageDraw  # noqa: E402
import torch  # noqa: E402

from cnnlab.config import DataConfig, Preprocess  # noqa: E402
from cnnlab.data import CIFAR10_ZIP, data_root, load_dataset  # noqa: E402
from cnnlab.data.images import open_image  # noqa: E402
from cnnlab.explain import grad_cam  # noqa: E402
from cnnlab.inference import predict_images, prepare_image  # noqa: E402
from cnnlab.models import build_model  # noqa: E402
from cnnlab.recipes import default_run_config  # noqa: E402

PREPROCESS = {
    "mnist": Preprocess(input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,)),
    "cifar10": Preprocess(input_shape=(3, 32, 32), mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26)),
}


def photo_jpeg(width: int = 4000, height: int = 3000, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 180 + 40 * np.sin(xx / 700) * np.cos(yy / 500)  # (H, W) soft shading
    rgb = base[..., None] + rng.normal(0, 12, (height, width, 3)) + np.array([10, 0, -10])
    img = PIL.Image.fromarray(rgb.clip(0, 255).astype(np.uint8))
    draw = PIL.ImageDraw.Draw(img)
    draw.ellipse((1200, 700, 2800, 2300), outline=(20, 20, 20), width=220)  # a dark "0"
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) milliseconds of `fn` over `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times), statistics.median(times)


def classify_row(name: str, preprocess: Preprocess, data: bytes, repeats: int) -> str:
    cfg = default_run_config(name)
    torch.manual_seed(0)
    model = build_model(cfg.model, preprocess, 10).eval()
    classes = [str(i) for i in range(10)]
    img = open_image(data)
    x = prepare_image(img, preprocess)

    def classify(with_cam: bool = False) -> None:
        x = prepare_image(open_image(data), preprocess)
        best = predict_images(model, [x], classes)[0]
        if with_cam:
            grad_cam(model, x, int(np.argmax(best.probs)))

    parts = [
        timed(lambda: open_image(data), repeats),
        timed(lambda: prepare_image(img, preprocess), repeats),
        timed(lambda: predict_images(model, [x], classes), repeats),
        timed(classify, repeats),
        timed(lambda: classify(True), repeats),
    ]
    cells = " | ".join(f"{best:.0f} (median {median:.0f})" for best, median in parts)
    return f"| {name} {cfg.model.name} | {cells} |"


def classify_rows(data: bytes, repeats: int) -> list[str]:
    header = "| model | decode ms | prepare ms | predict ms | bytes -> probabilities ms | "
    rows = [header + "+ Grad-CAM ms |", "|---|---|---|---|---|---|"]
    return rows + [classify_row(name, pre, data, repeats) for name, pre in PREPROCESS.items()]


def load_rows(root: Path) -> list[str]:
    rows = ["| dataset | cold s (empty cache) | cached s |", "|---|---|---|"]
    for name in ("mnist", "cifar10"):
        if name == "cifar10" and not (root / CIFAR10_ZIP).is_file():
            continue
        if name == "mnist" and not (root / "MNIST" / "raw").is_dir():
            continue
        with tempfile.TemporaryDirectory(prefix="cnnlab-cache-") as cache:
            os.environ["CNNLAB_CACHE"] = cache
            times = []
            for _ in range(2):
                t = time.perf_counter()
                load_dataset(DataConfig(name=name, root=str(root)))
                times.append(time.perf_counter() - t)
        rows.append(f"| {name} | {times[0]:.2f} | {times[1]:.2f} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--data", help="data root (default: $CNNLAB_DATA)")
    parser.add_argument("--no-load", action="store_true", help="skip the dataset load times")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the app's server process (app.py) runs inference on one thread
    data = photo_jpeg()
    print(
        f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
        f"JPEG 4000x3000, {len(data) / 2**20:.1f} MiB; best (median) of {args.repeats}"
    )
    print("\n".join(classify_rows(data, args.repeats)))
    if not args.no_load:
        print("\n".join(["", *load_rows(data_root(args.data))]))
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
