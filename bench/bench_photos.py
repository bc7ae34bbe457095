"""Accuracy on generated photos of digits: the old squash path vs the MNIST-style preprocessing.

  CNNLAB_DATA=../shared/data .venv/bin/python bench/bench_photos.py [--run RUN_ID] [-n 200]

Photos come from tests/photo_maker.py (printed and handwritten digits on grey or cream paper,
off-centre, rotated, blurred, JPEG, 300-640 px). "squash" is the preprocessing before issue 12
(resize the whole photo to 28x28, invert light paper); "digit" is `cnnlab.inference.prepare_image`
with the run's saved Preprocess. Also the ten canvas drawings (white strokes on black, RGBA).
Without --run it trains the default MNIST recipe once (`python -m cnnlab train --dataset mnist`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cnnlab.data.images import image_to_tensor, open_image  # noqa: E402
from cnnlab.inference import NothingToRead, predict_images, prepare_image  # noqa: E402
from cnnlab.runs import list_runs, load_model  # noqa: E402
from tests.photo_maker import TRAIN_MNIST, canvas_drawing, photo_set  # noqa: E402


def squash(img, preprocess) -> torch.Tensor:  # the path before issue 12, kept here to compare
    c, h, w = preprocess.input_shape
    x = image_to_tensor(img, (h, w), c)
    border = torch.cat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], 1).float().mean()
    return 255 - x if border > 127 else x


def accuracy(loaded, items, prepare) -> tuple[float, float, float]:
    """(share right, mean probability of the right class, ms per image for the preprocessing)."""
    xs, start = [], time.perf_counter()
    for _, data in items:
        try:
            xs.append(prepare(open_image(data), loaded.preprocess))
        except NothingToRead:
            xs.append(torch.zeros(loaded.preprocess.input_shape, dtype=torch.uint8))
    ms = (time.perf_counter() - start) * 1000 / len(items)
    preds = predict_images(loaded.model, xs, loaded.class_names, k=1)
    truth = np.array([d for d, _ in items])
    right = np.array([int(p.top[0][0]) for p in preds]) == truth
    p_true = np.array([p.probs[d] for p, d in zip(preds, truth, strict=True)])
    return float(right.mean()), float(p_true.mean()), ms


def trained_run(runs_dir: str) -> str:
    subprocess.run(
        [*TRAIN_MNIST, "--quiet"],
        check=True,
        env=dict(os.environ, CNNLAB_RUNS=runs_dir),
        cwd=REPO,
    )
    return list_runs(runs_dir)[0].run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained MNIST run id (default: train one)")
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("-n", type=int, default=200, help="number of photos")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="bench-photos-")
    run_id = args.run or trained_run(runs_dir)
    loaded = load_model(run_id, runs_dir if args.runs_dir or not args.run else None)
    photos = [(d, data) for d, _, data in photo_set(args.n)]
    printed = [(d, data) for d, k, data in photo_set(args.n) if k == "printed"]
    handwritten = [(d, data) for d, k, data in photo_set(args.n) if k == "handwritten"]
    canvas = [(d, canvas_drawing(d, d)) for d in range(10)]
    print(f"run {run_id}; {args.n} photos ({len(printed)} printed, {len(handwritten)} handwritten)")
    print(f"{'set':<24}{'path':<8}{'right':>8}{'p(true)':>9}{'ms/img':>8}")
    for title, items in [
        ("photos", photos),
        ("  printed", printed),
        ("  handwritten", handwritten),
        ("canvas (10)", canvas),
    ]:
        for name, fn in [("squash", squash), ("digit", prepare_image)]:
            acc, p_true, ms = accuracy(loaded, items, fn)
            print(f"{title:<24}{name:<8}{acc:>8.1%}{p_true:>9.1%}{ms:>8.1f}")


if __name__ == "__main__":
    main()
