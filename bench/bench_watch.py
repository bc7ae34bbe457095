"""What snapshots cost: the same run with `watch.snapshots` off, on without embedding, and on with it.

    python bench/bench_watch.py [--dataset mnist] [--epochs 2] [--quick]

Prints seconds of training (events' elapsed), the overhead against "off", the monitor's own
seconds and the snapshot folder's size. `--quick` = digits, 1 epoch (a smoke test, not a measure).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from cnnlab.config import DataConfig, RunConfig, TrainConfig, WatchConfig
from cnnlab.runs import create_run, run_history
from cnnlab.runs.runner import execute_run
from cnnlab.watch import frame_steps, read_frame

VARIANTS = {
    "off": WatchConfig(snapshots=False),
    "filmstrip": WatchConfig(embedding_points=0),
    "filmstrip+embedding": WatchConfig(),
}


def measure(dataset: str, epochs: int, watch: WatchConfig, runs_dir: str) -> dict:
    cfg = RunConfig(data=DataConfig(name=dataset), train=TrainConfig(epochs=epochs), watch=watch)
    run = create_run(cfg, runs_dir)
    t0 = time.perf_counter()
    execute_run(run)
    wall = time.perf_counter() - t0
    last = run_history(run).last_epoch
    steps = frame_steps(run.snapshots_dir)
    frames = [read_frame(run.snapshots_dir, s) for s in steps]
    size = sum(p.stat().st_size for p in run.snapshots_dir.glob("*")) if steps else 0
    return {
        "train_s": last.elapsed if last else wall,
        "monitor_s": sum(f.seconds for f in frames if f),
        "snapshots": len(steps),
        "kb": size / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="digits, 1 epoch")
    args = parser.parse_args()
    dataset, epochs = ("digits", 1) if args.quick else (args.dataset, args.epochs)
    with tempfile.TemporaryDirectory() as runs_dir:
        rows = {name: measure(dataset, epochs, w, runs_dir) for name, w in VARIANTS.items()}
    base = rows["off"]["train_s"]
    print(f"{dataset}, {epochs} epoch(s), {os.cpu_count()} CPUs")
    print(f"{'variant':<22}{'train s':>9}{'overhead':>10}{'monitor s':>11}{'snaps':>7}{'KB':>8}")
    for name, r in rows.items():
        overhead = (r["train_s"] - base) / base if base else 0.0
        print(
            f"{name:<22}{r['train_s']:>9.2f}{overhead:>10.1%}{r['monitor_s']:>11.3f}"
            f"{r['snapshots']:>7}{r['kb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
