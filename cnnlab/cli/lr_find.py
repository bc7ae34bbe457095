"""`cnnlab lr-find`: the learning-rate range test of a config (the dataset's recipe, `--config`,
and every `train` setting flag), printed as a short table and the suggestion (or `--json`).

Nothing is written: no run folder, no weights (see `cnnlab.lrfind`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cnnlab.cli import EXIT_FAILED, EXIT_NO_DATA, EXIT_OK, flags
from cnnlab.cli.output import print_json, print_table, say
from cnnlab.cli.progress import Phase

ROWS_SHOWN = 12  # rows of the printed curve (every k-th step)


def add_parser(sub: Any, registries: bool) -> None:
    """The `lr-find` command on the CLI's subparsers."""
    p = sub.add_parser(
        "lr-find",
        help="find a learning rate (a ~100-step ramp; creates no run)",
        description=(
            "Raise the learning rate exponentially over --steps optimiser steps on a fresh model "
            "of the config (the dataset's recipe, or --config; every `train` setting flag works: "
            "--dataset, --model, --batch-size, --optimizer, --limit, ...); print the smoothed "
            "loss and the suggested rate (steepest slope). Creates no run."
        ),
    )
    p.add_argument("--config", metavar="FILE|RUN", help="start from a saved config or run")
    p.add_argument("--no-augment", action="store_true", help="turn augmentation off")
    p.add_argument("--steps", type=int, default=100, help="steps of the ramp (default 100)")
    p.add_argument("--start-lr", type=float, default=1e-5, help="first rate (default 1e-5)")
    p.add_argument("--end-lr", type=float, default=10.0, help="last rate (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    flags.add_setting_flags(p, registries)
    p.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from cnnlab.cli.train import UsageError, build_config
    from cnnlab.data import DatasetUnavailable, load_dataset
    from cnnlab.lrfind import METHOD_TEXT, lr_find

    if args.steps < 2 or not 0 < args.start_lr < args.end_lr:
        raise UsageError("--steps must be at least 2 and 0 < --start-lr < --end-lr")
    cfg = build_config(args)
    phase = Phase(enabled=not args.json)
    phase.start(f"loading the {cfg.data.name} dataset")
    try:
        dataset = load_dataset(cfg.data)
    except DatasetUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_NO_DATA
    finally:
        phase.stop()
    phase.start(f"{args.steps} steps from lr {args.start_lr:g} to {args.end_lr:g}")
    try:
        finding = lr_find(cfg, dataset, steps=args.steps, start_lr=args.start_lr,
                          end_lr=args.end_lr, threads=cfg.train.threads or None)  # fmt: skip
    finally:
        phase.stop()
    if args.json:
        print_json({"dataset": cfg.data.name, "model": cfg.model.name, "config_lr": cfg.train.lr,
                    **vars(finding)})  # fmt: skip
        return EXIT_OK if finding.suggestion else EXIT_FAILED
    every = max(1, len(finding.lrs) // ROWS_SHOWN)
    curve = zip(finding.lrs, finding.losses, finding.smoothed, strict=True)
    rows = [
        {"lr": f"{lr:.3g}", "loss": loss, "smoothed": smooth}
        for i, (lr, loss, smooth) in enumerate(curve)
        if i % every == 0 or i == len(finding.lrs) - 1
    ]
    print_table(rows)
    say(f"{finding.message} ({finding.seconds:.1f}s)")
    if finding.suggestion is None:
        return EXIT_FAILED
    print(f"suggested learning rate: {finding.suggestion:.3g} ({METHOD_TEXT})")
    print(
        f"the config's learning rate: {cfg.train.lr:g} (train with --lr {finding.suggestion:.2g})"
    )
    return EXIT_OK
