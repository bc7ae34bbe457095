"""`cnnlab mislabels RUN`: the run's training images ranked by how likely their label is wrong.

Cross-trains `--folds` models with the run's recipe (or reads the run folder's cache), ranks with
cleanlab and prints the top `--top`; `--write-patch OUT.json` writes a label patch for
`cnnlab train --config RUN --patch OUT.json`. `--job` is the app's background job (progress in
the run folder)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cnnlab.cli import EXIT_INTERRUPTED, EXIT_NO_DATA, EXIT_OK
from cnnlab.cli.output import print_json, print_table, say
from cnnlab.cli.progress import Bar
from cnnlab.cli.train import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "mislabels",
        help="rank a run's training images by how likely their label is wrong",
        description=__doc__,
    )
    p.add_argument("run", nargs="?", help="run id (default: the latest finished run)")
    p.add_argument("--folds", type=int, default=4, help="cross-training folds, 2-10 (default 4)")
    p.add_argument("--epochs", type=int, default=0, help="epochs per fold (0 = the run's own)")
    p.add_argument("--top", type=int, default=20, help="how many suspects to print (default 20)")
    p.add_argument("--refresh", action="store_true", help="cross-train again, ignore the cache")
    p.add_argument("--write-patch", metavar="OUT.json", help="write a label patch of the top ones")
    p.add_argument(
        "--action",
        choices=("relabel", "drop"),
        default="relabel",
        help="--write-patch: relabel the flagged top suspects to their prediction, or drop them",
    )
    p.add_argument("--job", action="store_true", help=argparse.SUPPRESS)  # the app's background job
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=cmd_mislabels)


def cmd_mislabels(args: argparse.Namespace) -> int:
    from cnnlab.cli.commands import resolve_run
    from cnnlab.data import DatasetUnavailable
    from cnnlab.mislabels import crossval, job, rank
    from cnnlab.runs import get_run

    if not crossval.MIN_FOLDS <= args.folds <= crossval.MAX_FOLDS:
        raise UsageError(f"--folds must be between {crossval.MIN_FOLDS} and {crossval.MAX_FOLDS}")
    if args.epochs < 0 or args.top < 1:
        raise UsageError("--epochs must be >= 0 and --top >= 1")
    run = get_run(resolve_run(args.run, args.runs_dir), args.runs_dir)
    cfg = run.config()
    bar = Bar("cross-training", 100, "%", enabled=not (args.json or args.job))
    try:
        if args.job:
            oos = job.run_as_job(run, args.folds, args.epochs)
        else:
            oos = job.find(
                run, folds=args.folds, epochs=args.epochs, refresh=args.refresh,
                progress=lambda p: bar.update(round(p.fraction * 100)),
            )  # fmt: skip
    except DatasetUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_NO_DATA
    except InterruptedError:
        return EXIT_INTERRUPTED
    finally:
        bar.close()
    class_names = list(run.meta().get("class_names") or [])
    if len(class_names) != oos.probs.shape[1]:
        class_names = [str(k) for k in range(oos.probs.shape[1])]
    suspects = rank.rank_suspects(oos, class_names)
    if args.write_patch:
        _write_patch(args, cfg, oos, suspects, run.run_id)
    _print(args, run.run_id, oos, suspects)
    return EXIT_OK


def _write_patch(args: argparse.Namespace, cfg: Any, oos: Any, suspects: Any, run_id: str) -> None:
    from cnnlab.data.patch import patch_dict, summary
    from cnnlab.jsonio import atomic_write_json
    from cnnlab.mislabels.versions import suspects_patch

    patch = suspects_patch(cfg, oos.labels, suspects, run_id, top=args.top, action=args.action)
    atomic_write_json(Path(args.write_patch), patch_dict(patch))
    say(
        f"wrote {args.write_patch} ({summary(patch)}); retrain with: cnnlab train "
        f"--config {run_id} --patch {args.write_patch}",
        json_mode=args.json,
    )


def _print(args: argparse.Namespace, run_id: str, oos: Any, suspects: Any) -> None:
    rows = [
        {
            "rank": int(r["rank"]),
            "image": int(r["index"]),
            "given": r["given"],
            "predicted": r["predicted"],
            "p_given": round(float(r["given_prob"]), 4),
            "p_predicted": round(float(r["predicted_prob"]), 4),
            "flagged": bool(r["flagged"]),
        }
        for r in suspects.top(args.top).to_dict("records")
    ]
    head = {
        "run": run_id,
        "train_images": len(oos.labels),
        "folds": oos.folds,
        "epochs": oos.epochs,
        "held_out_accuracy": round(oos.accuracy, 4),
        "flagged": suspects.flagged,
    }
    if args.json:
        print_json({**head, "suspects": rows})
        return
    print(
        f"run {run_id}: {head['train_images']} training images, {oos.folds} folds x "
        f"{oos.epochs} epochs, held-out accuracy {oos.accuracy:.1%}; cleanlab flags "
        f"{suspects.flagged} as likely mislabelled. Most suspect first ('image' = position in "
        "the training split; p_ = out-of-sample probability):"
    )
    print_table([{**r, "flagged": "yes" if r["flagged"] else ""} for r in rows])
