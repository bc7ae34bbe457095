"""Time to 94% on CIFAR-10 and to 99% on MNIST on a GPU, through the app's own training path.

  .venv/bin/python bench/bench_gpu.py            # on a CUDA machine (a few minutes)
  .venv/bin/python bench/bench_gpu.py --quick    # anywhere, the CPU too: subsets, 1 epoch

Each recipe runs through `cnnlab.training.train` as a job does (the GPU path: the uint8 split
moved to the device once, device-side augmentation, sums read per event, cuDNN benchmark, TF32,
bf16 autocast where native, torch.compile on CUDA) with the test set scored after every epoch
(evaluation time excluded). Achieved TFLOP/s = training FLOP per image (forward +
loss + backward, counted by `cnnlab.summary.training_flops`) x images/s; the bf16 matmul peak of
the device is printed beside it. `--set section.field=value` changes both recipes (repeatable).
Expected figures: bench/RESULTS.md, "GPU path".
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import torch  # noqa: E402
from bench_train import (  # noqa: E402
    apply_overrides,
    cifar_subset_root,
    fmt_s,
    machine,
    matmul_peak,
)

from cnnlab.config import RunConfig  # noqa: E402
from cnnlab.data import CIFAR10_ZIP, data_root, load_dataset  # noqa: E402
from cnnlab.device import pick_device, resolve_precision, use_compile  # noqa: E402
from cnnlab.events import EpochEvent, StartEvent  # noqa: E402
from cnnlab.models import build_model  # noqa: E402
from cnnlab.recipes import default_run_config  # noqa: E402
from cnnlab.summary import training_flops  # noqa: E402
from cnnlab.training import evaluate_split, train  # noqa: E402

# What a GPU can afford beyond the CPU recipes: longer schedules and a wider network.
GPU_RECIPES = {
    "mnist": ["train.epochs=8", "train.precision=auto", "train.batch_events_per_s=5"],
    "cifar10": [
        "train.epochs=40",
        "model.width=4.0",
        "train.batch_size=512",
        "train.lr=0.4",
        "train.precision=auto",
        "train.batch_events_per_s=5",
    ],
}
TARGETS = {"mnist": 0.99, "cifar10": 0.94}


def recipe(name: str, root: Path, args: argparse.Namespace, tmp: Path) -> RunConfig:
    if args.quick and name == "cifar10":
        root = cifar_subset_root(root / CIFAR10_ZIP, tmp / "cifar-subset", 100, 20)
    cfg = default_run_config(
        name, root=str(root), limit=3000 if args.quick and name == "mnist" else 0
    )
    cfg = apply_overrides(cfg, GPU_RECIPES[name] + args.set)
    if args.quick:  # CI smoke: one short epoch, no compile (its time would swamp the run)
        cfg = dataclasses.replace(
            cfg, train=dataclasses.replace(cfg.train, epochs=1, compile="off")
        )
    return cfg


@dataclasses.dataclass
class Timing:
    """Test accuracy after each epoch against training seconds (the test passes excluded)."""

    points: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (s, acc)
    images: int = 0
    t0: float = 0.0
    eval_s: float = 0.0

    def train_s(self) -> float:
        return time.perf_counter() - self.t0 - self.eval_s

    def time_to(self, target: float) -> float | None:
        return next((s for s, acc in self.points if acc >= target), None)


def run(cfg: RunConfig, dataset: object) -> Timing:
    """`cfg` through `cnnlab.training.train`, the test split scored at each epoch's end (batch
    events at the recipe's rate, so the device is read as seldom as in a job)."""
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    device = pick_device(cfg.train.device)
    timing = Timing()

    def emit(event: object) -> None:
        if isinstance(event, StartEvent):
            timing.t0 = time.perf_counter()
        elif isinstance(event, EpochEvent):
            seconds = timing.train_s()
            t = time.perf_counter()
            acc = evaluate_split(model, dataset.test.x, dataset.test.y, 1024, device)[1]
            timing.eval_s += time.perf_counter() - t
            timing.points.append((seconds, acc))
            timing.images += len(dataset.train.y)

    train(cfg, dataset, model, emit=emit)
    return timing


def bench(name: str, root: Path, args: argparse.Namespace, tmp: Path) -> list[str] | None:
    cfg = recipe(name, root, args, tmp)
    try:
        dataset = load_dataset(cfg.data)
    except Exception as exc:  # noqa: BLE001 - a missing dataset skips its row
        print(f"{name}: skipped ({exc})", flush=True)
        return None
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    flop = training_flops(model, dataset.input_shape)  # per image, forward + backward
    t = time.perf_counter()
    timing = run(cfg, dataset)
    wall = time.perf_counter() - t
    train_s = timing.points[-1][0] if timing.points else float("nan")
    images_per_s = timing.images / train_s  # validation included: it is part of a run
    device = pick_device(cfg.train.device)
    return [
        f"{name} ({cfg.model.name}, {cfg.train.epochs} epochs)",
        fmt_s(timing.time_to(TARGETS[name]), train_s),
        f"{timing.points[-1][1]:.2%}" if timing.points else "-",
        f"{train_s:.1f}",
        f"{images_per_s:,.0f}",
        f"{flop * images_per_s / 1e12:.3f}",
        f"{resolve_precision(cfg.train.precision, device)}, compile "
        f"{'on' if use_compile(cfg.train.compile, device) else 'off'}",
        f"{wall:.1f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subsets and 1 epoch (any device)")
    parser.add_argument("--data", help="data root (default: $CNNLAB_DATA)")
    parser.add_argument("--only", choices=sorted(TARGETS), help="one dataset")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    args = parser.parse_args(argv)
    root = data_root(args.data)
    device = pick_device("auto")
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU"
    peak = matmul_peak(torch.bfloat16) if device.type == "cpu" else _cuda_peak(device)
    lines = [
        f"Machine: {machine()}; {device} ({gpu}); bf16 matmul peak {peak / 1e3:.1f} TFLOP/s",
        "",
    ]
    head = ["run", "s to target", "final acc", "train s", "images/s", "TFLOP/s", "how", "wall s"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    with tempfile.TemporaryDirectory(prefix="cnnlab-gpu-") as tmp:
        for name in [args.only] if args.only else ["mnist", "cifar10"]:
            row = bench(name, root, args, Path(tmp))
            if row:
                row[1] = f"{row[1]} (to {TARGETS[name]:.0%})"
                lines.append("| " + " | ".join(row) + " |")
    print("\n".join(lines))
    return 0


def _cuda_peak(device: torch.device, size: int = 8192) -> float:
    """Best GFLOP/s of a bf16 (size x size) product on the GPU."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(5):
        torch.cuda.synchronize(device)
        t = time.perf_counter()
        a @ a
        torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


if __name__ == "__main__":
    sys.exit(main())
