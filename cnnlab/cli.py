"""`python -m cnnlab`: the lab without a browser (datasets, models, train, evaluate, predict, runs,
import-run).

Exit codes: 0 success; 1 the run ended badly (failed/diverged) or an input was bad; 2 usage error;
3 a dataset is unavailable; 4 no such run; 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_DATA, EXIT_NO_RUN, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("(none)")
        return
    cols = list(rows[0])
    cells = [[_fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(value: Any, spec: str = "{:.4f}") -> str:
    if isinstance(value, float):
        return spec.format(value)
    return "-" if value is None else str(value)


class _Progress:
    """A one-line progress bar on stderr plus a line per epoch on stdout (event dataclasses)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.total = 0

    def __call__(self, event: Any) -> None:
        from cnnlab.events import BatchEvent, EndEvent, EpochEvent, StartEvent

        if self.quiet:
            return
        if isinstance(event, StartEvent):
            self.total = event.total_steps
            print(
                f"training {event.train_size} images, {event.epochs} epochs x "
                f"{event.steps_per_epoch} steps, batch {event.batch_size}, on "
                f"{event.device} ({event.threads} threads)",
                flush=True,
            )
        elif isinstance(event, BatchEvent) and sys.stderr.isatty():
            done = event.step / max(1, self.total)
            sys.stderr.write(
                f"\r[{'#' * int(30 * done):<30}] {100 * done:5.1f}% loss {_fmt(event.loss)} "
                f"{_fmt(event.images_per_s, '{:,.0f}')} img/s ETA {_fmt(event.eta, '{:.0f}')}s "
            )
            sys.stderr.flush()
        elif isinstance(event, EpochEvent):
            if sys.stderr.isatty():
                sys.stderr.write("\r" + " " * 90 + "\r")
            print(
                f"epoch {event.epoch}: train loss {_fmt(event.train_loss)} acc "
                f"{_fmt(event.train_acc)} | val loss {_fmt(event.val_loss)} acc "
                f"{_fmt(event.val_acc)} | {_fmt(event.elapsed, '{:.1f}')}s",
                flush=True,
            )
        elif isinstance(event, EndEvent) and event.message:
            print(event.message, flush=True)


def cmd_datasets(args: argparse.Namespace) -> int:
    from cnnlab.config import DataConfig
    from cnnlab.data import DATASETS, DatasetUnavailable, dataset_status, load_dataset

    if args.download:
        try:
            ds = load_dataset(DataConfig(name=args.download, root=args.root or ""))
        except DatasetUnavailable as exc:
            print(exc, file=sys.stderr)
            return EXIT_NO_DATA
        print(f"{ds.title}: {len(ds.train.y)} train, {len(ds.val.y)} val, {len(ds.test.y)} test")
        return EXIT_OK
    rows = []
    for name, info in DATASETS.items():
        ok, why = dataset_status(name, args.root or None)
        rows.append(
            {
                "name": name,
                "title": info.title,
                "offline": info.offline,
                "available": "yes" if ok else "no",
                "where": why,
            }
        )
    _print_table(rows)
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from cnnlab.models import MODELS

    _print_table(
        [
            {"name": name, "title": info.title, "description": info.description}
            for name, info in MODELS.items()
        ]
    )
    return EXIT_OK


def _train_config(args: argparse.Namespace) -> Any:
    from cnnlab.config import AugmentConfig
    from cnnlab.recipes import default_run_config

    data = {
        k: v
        for k, v in {
            "root": args.root,
            "path": args.path,
            "image_size": args.image_size,
            "limit": args.limit,
        }.items()
        if v
    }
    cfg = default_run_config(args.dataset, **data)
    model = cfg.model if args.model is None else dataclasses.replace(cfg.model, name=args.model)
    overrides = {
        k: getattr(args, k)
        for k in (
            "epochs",
            "lr",
            "batch_size",
            "optimizer",
            "schedule",
            "seed",
            "weight_decay",
            "label_smoothing",
            "early_stopping",
            "threads",
            "device",
        )
        if getattr(args, k) is not None
    }
    train = dataclasses.replace(cfg.train, **overrides)
    augment = AugmentConfig() if args.no_augment else cfg.augment
    return dataclasses.replace(cfg, model=model, train=train, augment=augment)


def cmd_train(args: argparse.Namespace) -> int:
    from cnnlab.runs import RunNotFound, Status, create_run, run_from_dir
    from cnnlab.runs.runner import execute_run

    if args.run_dir:  # job mode: the app created the run folder with its config
        try:
            run = run_from_dir(args.run_dir)
        except RunNotFound as exc:
            print(exc, file=sys.stderr)
            return EXIT_NO_RUN
        if run.status().status != Status.RUNNING:  # by hand, not from a JobManager: a stop
            run.clear_stop()  # request is left over from an earlier stop
    else:
        run = create_run(_train_config(args), args.runs_dir)
    print(f"run {run.run_id} in {run.path}", flush=True)
    status = execute_run(run, resume=args.resume, echo=_Progress(args.quiet))
    final = run.status()
    metrics = run.metrics()
    if metrics.get("test_acc") is not None:
        print(
            f"{status}: test accuracy {metrics['test_acc']:.4f}, best val accuracy "
            f"{_fmt(metrics.get('best_val_acc'))} (epoch {metrics.get('best_epoch')})"
        )
    else:
        print(f"{status}: {final.message}", file=sys.stderr)
    if status == "failed" and final.error_kind == "data_unavailable":
        return EXIT_NO_DATA
    return {"finished": EXIT_OK, "stopped": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(
        status, EXIT_FAILED
    )


def _resolve_run(run_id: str | None, runs_dir: str | None) -> str:
    from cnnlab.runs import RunNotFound, latest_run

    if run_id:
        return run_id
    latest = latest_run("finished", runs_dir) or latest_run(None, runs_dir)
    if latest is None:
        raise RunNotFound("no runs yet: train one with `python -m cnnlab train`")
    return latest


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cnnlab.data import load_dataset
    from cnnlab.evaluate import evaluate, most_confused
    from cnnlab.runs import load_model

    run_id = _resolve_run(args.run, args.runs_dir)
    loaded = load_model(run_id, args.runs_dir)
    dataset = load_dataset(loaded.config.data)
    report = evaluate(loaded.model, dataset.test, loaded.class_names)
    print(f"run {run_id}: {dataset.title}, {len(dataset.test.y)} test images")
    print(f"accuracy {report.accuracy:.4f}  loss {report.loss:.4f}")
    print(report.per_class.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("\nmost confused (true -> predicted):")
    print(most_confused(report, 5).to_string(index=False))
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from cnnlab.data.images import ImageError, open_image
    from cnnlab.inference import predict_images, prepare_image
    from cnnlab.runs import load_model

    run_id = _resolve_run(args.run, args.runs_dir)
    loaded = load_model(run_id, args.runs_dir)
    code, rows = EXIT_OK, []
    for name in args.images:
        try:
            x = prepare_image(open_image(Path(name)), loaded.preprocess)
        except (ImageError, OSError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            code = EXIT_FAILED
            continue
        pred = predict_images(loaded.model, [x], loaded.class_names, k=args.top)[0]
        rows.append(
            {
                "image": name,
                "class": pred.top[0][0],
                "confidence": pred.top[0][1],
                f"top-{args.top}": ", ".join(f"{c} {p:.3f}" for c, p in pred.top),
            }
        )
    _print_table(rows)
    return code


def cmd_runs(args: argparse.Namespace) -> int:
    from cnnlab.runs import Status, delete_run, list_runs

    if args.delete:
        delete_run(args.delete, args.runs_dir)
        print(f"deleted {args.delete}")
        return EXIT_OK
    status = Status(args.status) if args.status else None
    rows = [
        {
            "run": i.run_id,
            "status": i.status,
            "dataset": i.dataset,
            "model": i.model,
            "epochs": i.epochs,
            "lr": i.lr,
            "best val acc": i.best_val_acc,
            "test acc": i.test_acc,
            "time (s)": round(i.duration_s, 1) if i.duration_s is not None else None,
        }
        for i in list_runs(args.runs_dir, status=status)
    ]
    _print_table(rows)
    return EXIT_OK


def cmd_import_run(args: argparse.Namespace) -> int:
    """Import a downloaded run zip as a new run; prints its id."""
    from cnnlab.runs import import_run_zip

    path = Path(args.file)
    run_id = import_run_zip(path.read_bytes(), args.runs_dir, source=path.name)
    print(f"imported {path.name} as run {run_id}")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """Warm job process: imports are done; wait for one "RUN_DIR<TAB>resume" line, then train it."""
    import os

    import sklearn.model_selection  # noqa: F401 - the splits use it; ~1 s to import
    import torch  # noqa: F401 - the point of a warm worker is to have paid for this already

    from cnnlab import data, models, summary, training  # noqa: F401
    from cnnlab.runs import run_from_dir, runner

    line = sys.stdin.readline().strip()
    if not line:
        return EXIT_OK  # the server went away before handing us a job
    run_dir, resume = line.split("\t")
    run = run_from_dir(run_dir)
    log = os.open(run.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    status = runner.execute_run(run, resume=resume == "1")
    return EXIT_OK if status in ("finished", "stopped") else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    from cnnlab.runs.status import STATUSES

    parser = argparse.ArgumentParser(
        prog="python -m cnnlab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--runs-dir", help="folder of runs (default: $CNNLAB_RUNS or ~/.cache/cnnlab/runs)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("datasets", help="list datasets and whether each is available here")
    p.add_argument("--root", help="data root (default: $CNNLAB_DATA or ~/.cache/cnnlab/data)")
    p.add_argument("--download", metavar="NAME", help="fetch/prepare one dataset now")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("models", help="list the architectures")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "train",
        help="train a model and save a run",
        description="Train with the dataset's default recipe; flags override it.",
    )
    p.add_argument("--dataset", default="shapes", help="dataset name (see `datasets`)")
    p.add_argument("--path", help="folder or .zip of class folders (for --dataset folder)")
    p.add_argument("--root", help="data root (default: $CNNLAB_DATA or ~/.cache/cnnlab/data)")
    p.add_argument("--image-size", type=int, help="resize folder images to this side (pixels)")
    p.add_argument("--limit", type=int, help="use at most this many training images")
    p.add_argument("--model", help="architecture name (see `models`)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    p.add_argument("--schedule", choices=["constant", "step", "cosine", "onecycle"])
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--early-stopping", type=int, help="patience in epochs (0 = off)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="CPU threads (0 = all cores)")
    p.add_argument("--device", help="auto, cpu, cuda or mps")
    p.add_argument("--no-augment", action="store_true", help="turn augmentation off")
    p.add_argument("--run-dir", help="execute an existing run folder (used by the app's jobs)")
    p.add_argument(
        "--resume", action="store_true", help="with --run-dir: continue from the last checkpoint"
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set metrics of a run (default: the latest)")
    p.add_argument("run", nargs="?", help="run id")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files with a run's model")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--run", help="run id (default: the latest finished run)")
    p.add_argument("--top", type=int, default=3, help="how many classes to show")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("runs", help="list (or delete) saved runs")
    p.add_argument("--delete", metavar="RUN_ID")
    p.add_argument("--status", choices=STATUSES, help="only these runs")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("import-run", help="import a downloaded run zip as a new run")
    p.add_argument("file", metavar="FILE.zip")
    p.set_defaults(func=cmd_import_run)

    p = sub.add_parser("worker", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cnnlab.runs import RunNotFound, WeightsError

    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        return int(args.func(args))
    except RunNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_RUN
    except (WeightsError, KeyError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"\ninterrupted after {time.perf_counter() - started:.1f}s", file=sys.stderr)
        return EXIT_INTERRUPTED
