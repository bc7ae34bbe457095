"""What the curves cost: the norms monitor against a run without it, and one LR-finder ramp.

    python bench/bench_curves.py [--dataset mnist] [--epochs 1] [--quick]

Prints the training seconds with `watch.norms_every` 0 (off) and 10 (the default), the time of
one norms record (`cnnlab.norms.layer_norms`, median of 50) against one training step, and the
LR finder's seconds for 100 steps with its suggestion. Snapshots are off in both runs, so only
the norms differ. `--quick` = digits, 1 epoch, a 30-step ramp (a smoke test, not a measure).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

import torch

from cnnlab.config import WatchConfig
from cnnlab.data import load_dataset
from cnnlab.lrfind import lr_find
from cnnlab.models import build_model
from cnnlab.norms import layer_norms, parameter_layers
from cnnlab.recipes import default_run_config
from cnnlab.runs import create_run, run_history
from cnnlab.runs.runner import execute_run


def train_seconds(cfg, every: int, runs_dir: str) -> tuple[float, int]:
    """(training seconds, steps) of `cfg` with norms every `every` steps (0 = off)."""
    watch = WatchConfig(snapshots=False, norms_every=every)
    run = create_run(dataclasses.replace(cfg, watch=watch), runs_dir)
    execute_run(run)
    history = run_history(run)
    return history.last_epoch.elapsed, history.last_epoch.step


def record_ms(cfg) -> float:
    """Median milliseconds of one norms record on the recipe's model with gradients."""
    dataset = load_dataset(cfg.data)
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    x = dataset.train.x[:32].float() / 255
    torch.nn.functional.cross_entropy(model(x), dataset.train.y[:32]).backward()
    layers = parameter_layers(model)
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        layer_norms(layers)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="digits, 1 epoch, 30-step ramp")
    args = parser.parse_args()
    name, epochs, steps = ("digits", 1, 30) if args.quick else (args.dataset, args.epochs, 100)
    cfg = default_run_config(name)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs))
    with tempfile.TemporaryDirectory() as runs_dir:
        off_s, n = train_seconds(cfg, 0, runs_dir)
        on_s, _ = train_seconds(cfg, 10, runs_dir)
    ms = record_ms(cfg)
    step_ms = off_s / max(1, n) * 1000
    finding = lr_find(cfg, load_dataset(cfg.data), steps=steps)
    print(f"{name}, {epochs} epoch(s), {n} steps, threads {torch.get_num_threads()}")
    print(f"{'variant':<24}{'train s':>9}{'overhead':>10}")
    print(f"{'norms off':<24}{off_s:>9.2f}{'':>10}")
    print(f"{'norms every 10 steps':<24}{on_s:>9.2f}{(on_s / off_s - 1):>+10.1%}")
    print(f"one record {ms:.2f} ms vs one step {step_ms:.1f} ms: "
          f"{ms / (10 * step_ms):.2%} of training at norms_every=10")  # fmt: skip
    print(f"lr finder: {len(finding.lrs)} steps in {finding.seconds:.1f} s, suggestion "
          f"{finding.suggestion:.3g} (config lr {cfg.train.lr:g}); {finding.message}")  # fmt: skip


if __name__ == "__main__":
    main()
