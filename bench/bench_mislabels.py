"""Mislabel finder: recall of labels flipped on purpose, per fold count, epochs and ranking.

A share of the training labels (default 5%) moves to another class at random; the finder
cross-trains with the dataset's recipe and ranks. "recall@k" = share of the flipped images in the
top k of the list, k = as many as were flipped (the issue's measure, target >= 70%); "in flagged"
= share of them among what cleanlab's filter flags. Prints a Markdown table.

    python bench/bench_mislabels.py --quick          # digits, 1 seed, 4 folds (about 10 s)
    python bench/bench_mislabels.py --dataset mnist --limit 10000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see cnnlab/cli/__init__.py

from cnnlab.data import load_dataset  # noqa: E402
from cnnlab.data.types import DataSplit  # noqa: E402
from cnnlab.mislabels.crossval import cross_val_probs  # noqa: E402
from cnnlab.mislabels.rank import RANK_METHODS, rank_suspects, recall_at  # noqa: E402
from cnnlab.recipes import default_run_config  # noqa: E402


def flipped(dataset, share: float, seed: int):
    rng = np.random.default_rng(seed)
    y = dataset.train.y.clone()
    flip = rng.choice(len(y), round(share * len(y)), replace=False)
    y[flip] = (y[flip] + torch.from_numpy(rng.integers(1, dataset.num_classes, len(flip)))) % (
        dataset.num_classes
    )
    return dataclasses.replace(dataset, train=DataSplit(dataset.train.x, y)), flip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--limit", type=int, default=0, help="training images kept (0 = all)")
    p.add_argument("--share", type=float, default=0.05, help="share of labels flipped")
    p.add_argument("--folds", type=int, nargs="+", default=[3, 4, 5])
    p.add_argument("--epochs", type=int, nargs="+", default=[0], help="per fold (0 = recipe)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="digits, seed 0, 4 folds only")
    args = p.parse_args()
    if args.quick:
        args.dataset, args.folds, args.epochs, args.seeds = "digits", [4], [0], [0]
    cfg = default_run_config(args.dataset, limit=args.limit)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=args.threads))
    dataset = load_dataset(cfg.data)
    print(f"{args.dataset}: {len(dataset.train)} training images, {args.share:.0%} flipped\n")
    print(
        "| folds | epochs | seed | ranking | recall@k | in flagged | flagged | held-out acc | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for folds in args.folds:
        for epochs in args.epochs:
            for seed in args.seeds:
                noisy, flip = flipped(dataset, args.share, seed)
                t0 = time.perf_counter()
                oos = cross_val_probs(cfg, noisy, folds=folds, epochs=epochs)
                seconds = time.perf_counter() - t0
                for method in RANK_METHODS:
                    s = rank_suspects(oos, noisy.class_names, method)
                    flagged = set(s.table["index"][s.table["flagged"]])
                    found = len(flagged & set(flip.tolist())) / len(flip)
                    print(
                        f"| {folds} | {oos.epochs} | {seed} | {method} | {recall_at(s, flip):.1%} "
                        f"| {found:.1%} | {s.flagged} | {oos.accuracy:.1%} | {seconds:.1f} |"
                    )


if __name__ == "__main__":
    main()
