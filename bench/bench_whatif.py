"""Server-side time of one what-if slider move: apply the knobs + predict + build the figure.

  .venv/bin/python bench/bench_whatif.py [--repeats 30]      # target: well under 150 ms

The Classify page's what-if panel does exactly this on every slider move (`cnnlab.whatif`:
`whatif_predict` + `before_after_bars`, then plotly's JSON for the browser). Models are untrained
(the weights do not change the time): "classic" on 1x28x28 (the seed notebook's MNIST model),
"fastnet" (the MNIST recipe) and "resnet-small" on 3x32x32 (a resnet-ish CIFAR model). One
torch thread, as the app's server process sets. Median and best of `--repeats` moves, each with
other knob values (all knobs on: the slowest case).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from cnnlab.config import ModelConfig, Preprocess  # noqa: E402
from cnnlab.models import build_model  # noqa: E402
from cnnlab.whatif import WhatIf, apply_whatif, before_after_bars, whatif_predict  # noqa: E402

CASES = [
    ("classic", (1, 28, 28)),
    ("fastnet", (1, 28, 28)),
    ("resnet-small", (3, 32, 32)),
]


def knobs(i: int) -> WhatIf:
    """A different, all-on setting per move (as dragging a slider gives)."""
    return WhatIf(
        rotate=-20 + i,
        shift_x=(i % 7) - 3,
        shift_y=2,
        scale=0.9 + 0.01 * i,
        blur=0.8,
        noise=20,
        brightness=10,
        patch=8,
        patch_x=0.3 + 0.01 * i,
        patch_y=0.5,
        seed=i,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"{'model':<14}{'input':<10}{'apply ms':>9}{'predict ms':>11}{'figure ms':>10}{'total median':>14}{'best':>7}"
    )
    for name, shape in CASES:
        pre = Preprocess(input_shape=shape, mean=(0.5,) * shape[0], std=(0.25,) * shape[0])
        model = build_model(ModelConfig(name=name), pre, 10).eval()
        x = torch.randint(0, 256, shape, dtype=torch.uint8)
        names = [str(i) for i in range(10)]
        whatif_predict(model, x, knobs(0))  # warm-up
        parts: dict[str, list[float]] = {"apply": [], "predict": [], "figure": [], "total": []}
        for i in range(args.repeats):
            t0 = time.perf_counter()
            apply_whatif(x, knobs(i))
            t1 = time.perf_counter()
            result = whatif_predict(model, x, knobs(i))  # includes its own apply
            t2 = time.perf_counter()
            before_after_bars(names, result.before, result.after).to_json()
            t3 = time.perf_counter()
            parts["apply"].append(t1 - t0)
            parts["predict"].append(t2 - t1 - (t1 - t0))
            parts["figure"].append(t3 - t2)
            parts["total"].append(t3 - t1)
        ms = {k: 1000 * statistics.median(v) for k, v in parts.items()}
        best = 1000 * min(parts["total"])
        size = "x".join(str(s) for s in shape)
        print(
            f"{name:<14}{size:<10}{ms['apply']:>9.1f}{ms['predict']:>11.1f}{ms['figure']:>10.1f}{ms['total']:>14.1f}{best:>7.1f}"
        )


if __name__ == "__main__":
    main()
