"""The argument parser: the public commands (the app's warm job process is
`python -m cnnlab.runs.worker`, not a CLI command)."""

from __future__ import annotations

import argparse
from typing import Any

import cnnlab
from cnnlab.cli import commands, finetune, flags, lr_find
from cnnlab.cli import report as report_cli
from cnnlab.cli.train import cmd_train

PUBLIC = (
    "datasets",
    "models",
    "train",
    "evaluate",
    "predict",
    "runs",
    "import-run",
    "report",
    "lr-find",
)
RUNS_DIR_HELP = "folder of runs (default: $CNNLAB_RUNS or ~/.cache/cnnlab/runs)"
ROOT_HELP = "data root (default: $CNNLAB_DATA or ~/.cache/cnnlab/data)"
PUBLIC += ("mislabels",)  # cnnlab/cli/mislabels.py


def _json_flag(p: argparse.ArgumentParser, what: str = "one JSON document on stdout") -> None:
    p.add_argument("--json", action="store_true", help=what)


PUBLIC += ("export", "import")  # cnnlab/cli/export.py


def _train_parser(sub: Any, registries: bool) -> None:
    p = sub.add_parser(
        "train",
        help="train a model and save a run",
        description=(
            "Train with the dataset's recipe (or --config); every setting has a flag "
            "--<section>.<field>; the common ones also have a short alias (--dataset, --model, "
            "--epochs, --lr, --batch-size, ...). "
            "Settings are checked before anything is written: a bad one exits 2."
        ),
    )
    p.add_argument(
        "--config",
        metavar="FILE|RUN",
        help="start from a saved config.json, a run folder or a run id (flags still override)",
    )
    p.add_argument(
        "--print-config", action="store_true", help="print the resolved config as JSON and exit"
    )
    p.add_argument(
        "--recipe",
        default="default",
        choices=("default", "long"),
        help="the dataset's recipe to start from: the fast default, or the long one that buys "
        "accuracy with time where the dataset has one (CIFAR-10: AirNet width 4, 15 epochs, 90%%)",
    )
    p.add_argument("--no-augment", action="store_true", help="turn augmentation off")
    p.add_argument("--patch", metavar="FILE.json", help="train on a label patch (dataset version)")
    p.add_argument("--run-dir", help="execute an existing run folder (used by the app's jobs)")
    p.add_argument(
        "--resume", action="store_true", help="with --run-dir: continue from the last checkpoint"
    )
    p.add_argument(
        "--create-only",
        action="store_true",
        help="write the run folder and print its path (for `torchrun ... train --run-dir`)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _json_flag(p, "stream the run's events as JSON lines on stdout")
    finetune.add_flags(p)  # --more-epochs (--from-run, --freeze-up-to: setting aliases)
    flags.add_setting_flags(p, registries)
    p.set_defaults(func=cmd_train)


def build_parser(registries: bool = True) -> argparse.ArgumentParser:
    """The CLI's parser; `registries`: offer the registries' names as `train` choices (imports
    torch and the registries, so `main` asks for it only when the command is `train`)."""
    parser = argparse.ArgumentParser(
        prog="cnnlab",
        description=cnnlab.cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cnnlab {cnnlab.__version__}")
    parser.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    # metavar: the usage shows COMMAND, and only commands added with help= are listed
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("datasets", help="list datasets and whether each is available here")
    p.add_argument("--root", help=ROOT_HELP)
    p.add_argument("--download", metavar="NAME", help="fetch/prepare one dataset now")
    _json_flag(p)
    p.set_defaults(func=commands.cmd_datasets)

    p = sub.add_parser("models", help="list the architectures")
    _json_flag(p)
    p.set_defaults(func=commands.cmd_models)

    from cnnlab.cli import export  # export RUN --onnx/--script, import ZIP: their own module

    export.add_parsers(sub)

    _train_parser(sub, registries)
    lr_find.add_parser(sub, registries)

    p = sub.add_parser("evaluate", help="test-set metrics of a run (default: the latest)")
    p.add_argument("run", nargs="?", help="run id")
    _json_flag(p)
    p.set_defaults(func=commands.cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files with a run's model")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--run", help="run id (default: the latest finished run)")
    p.add_argument("--top", type=int, default=3, help="how many classes to show")
    p.add_argument(
        "--fit",
        choices=("crop", "pad"),
        help="photo models: centre crop (the run's default) or pad a non-square image to square",
    )
    p.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="digit models: invert the image (auto: when its background is light)",
    )
    _json_flag(p)
    p.set_defaults(func=commands.cmd_predict)

    p = sub.add_parser("runs", help="list (or delete) saved runs")
    p.add_argument("--delete", metavar="RUN_ID")
    p.add_argument("--status", help="only runs with this status (finished, failed, ...)")
    _json_flag(p)
    p.set_defaults(func=commands.cmd_runs)

    from cnnlab.cli import mislabels  # its own module: the parser and the command

    mislabels.add_parser(sub)

    p = sub.add_parser("import-run", help="import a downloaded run zip as a new run")
    p.add_argument("file", metavar="FILE.zip")
    p.set_defaults(func=commands.cmd_import_run)

    report_cli.add_parser(sub)
    return parser
