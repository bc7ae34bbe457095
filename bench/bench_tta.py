"""What test-time views buy and cost: one trained run scored on its test set with one view, with
the mirror (`flip_tta`) and with the mirror and 1-pixel shifts (`shift_tta`).

    python bench/bench_tta.py [--recipe default|long] [--run RUN_ID --runs-dir DIR] [--quick]

Trains CIFAR-10's recipe once (from $CNNLAB_DATA, else `--data`), or scores an existing run, then
prints test accuracy, evaluation seconds and images per second per view set. The training is
the same for every row: only how the test images are shown to the network differs.
`--quick` = digits, 2 epochs (a smoke test, not a measure).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import torch

from cnnlab.config import DataConfig, RunConfig, TrainConfig
from cnnlab.data import load_dataset
from cnnlab.recipes import default_run_config
from cnnlab.runs import create_run, load_model
from cnnlab.runs.runner import execute_run
from cnnlab.train_eval import evaluate_split

VIEWS = {"one view": (False, False), "mirror": (True, False), "mirror + shifts": (True, True)}


def trained_run(args: argparse.Namespace, runs_dir: str) -> str:
    """A finished run to score: `--run`, else a new one of the recipe (shifts off: scored here)."""
    if args.run:
        return args.run
    if args.quick:
        cfg = RunConfig(data=DataConfig(name="digits"), train=TrainConfig(epochs=2))
    else:
        root = args.data or os.environ.get("CNNLAB_DATA", "")
        recipe = None if args.recipe == "default" else args.recipe
        cfg = default_run_config("cifar10", recipe, root=root)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, shift_tta=False))
    run = create_run(cfg, runs_dir)
    t0 = time.perf_counter()
    status = execute_run(run)
    print(f"trained {run.run_id}: {status} in {time.perf_counter() - t0:.0f} s", flush=True)
    return run.run_id


def score(run_id: str, runs_dir: str) -> list[str]:
    """Markdown rows: views, test accuracy, evaluation seconds, images per second."""
    loaded = load_model(run_id, runs_dir)
    cfg, model = loaded.config, loaded.model.eval()
    test = load_dataset(cfg.data).test
    rows = []
    for name, (flip, shift) in VIEWS.items():
        model.flip_tta, model.shift_tta = flip, shift
        t0 = time.perf_counter()
        _, acc = evaluate_split(
            model, test.x, test.y, cfg.train.eval_batch_size, torch.device("cpu"),
            precision=cfg.train.precision,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        rows.append(f"| {name} | {acc:.2%} | {seconds:.1f} | {len(test.y) / seconds:,.0f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=["default", "long"], default="default")
    parser.add_argument("--run", help="score this finished run instead of training one")
    parser.add_argument("--runs-dir", help="where --run is (default: a temporary folder)")
    parser.add_argument("--data", help="data root (default: $CNNLAB_DATA)")
    parser.add_argument("--quick", action="store_true", help="digits, 2 epochs: a smoke test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.runs_dir or tmp
        run_id = trained_run(args, runs_dir)
        rows = score(run_id, runs_dir)
    print(f"\nrun {run_id}, {torch.get_num_threads()} threads")
    print("| test-time views | test accuracy | evaluation s | images/s |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
