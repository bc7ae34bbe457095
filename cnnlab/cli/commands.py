"""The CLI's commands other than `train`: datasets, models, runs, evaluate, predict, import-run,
and the app's hidden `worker`. Each takes the parsed arguments and returns an exit code; with
`--json` each prints one JSON document on stdout and its messages on stderr.

Imports are inside the commands: `cnnlab predict` loads torch, PIL and the model's own modules,
never pandas, scikit-learn, torchvision (unless the run is a torchvision net) or the app's stack.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cnnlab.cli import EXIT_FAILED, EXIT_NO_DATA, EXIT_OK
from cnnlab.cli.output import print_json, print_table, say
from cnnlab.cli.progress import Bar, Phase
from cnnlab.cli.train import UsageError


def _show(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if args.json:
        print_json(rows)
    else:
        print_table(rows)


def cmd_datasets(args: argparse.Namespace) -> int:
    from cnnlab.config import DataConfig
    from cnnlab.data import DATASETS, DatasetUnavailable, dataset_status, load_dataset

    if args.download and args.download not in DATASETS:
        raise UsageError(f"--download {args.download}: choose one of {', '.join(DATASETS)}")
    if args.download:
        phase = Phase(enabled=not args.json)
        phase.start(f"loading {args.download}")
        try:
            ds = load_dataset(DataConfig(name=args.download, root=args.root or ""))
        except DatasetUnavailable as exc:
            print(exc, file=sys.stderr)
            return EXIT_NO_DATA
        finally:
            phase.stop()
        sizes = {"train": len(ds.train.y), "val": len(ds.val.y), "test": len(ds.test.y)}
        if args.json:
            print_json({"name": ds.name, "title": ds.title, **sizes})
        else:
            print(f"{ds.title}: {sizes['train']} train, {sizes['val']} val, {sizes['test']} test")
        return EXIT_OK
    rows = []
    for name, info in DATASETS.items():
        ok, why = dataset_status(name, args.root or None)
        rows.append({"name": name, "title": info.title, "offline": info.offline})
        rows[-1].update(available=ok if args.json else ("yes" if ok else "no"), where=why)
    _show(rows, args)
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from cnnlab.models import MODELS

    rows = [{"name": n, "title": i.title, "description": i.description} for n, i in MODELS.items()]
    _show(rows, args)
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from cnnlab.runs import STATUSES, Status, delete_run, list_runs

    if args.status and args.status not in STATUSES:
        raise UsageError(f"--status {args.status}: choose one of {', '.join(STATUSES)}")
    if args.delete:
        delete_run(args.delete, args.runs_dir)
        say(f"deleted {args.delete}", json_mode=args.json)
        return EXIT_OK
    status = Status(args.status) if args.status else None
    rows = [
        {
            "run": i.run_id,
            "name": i.name,
            "owner": i.owner.to_dict() if args.json else (i.owner.name or i.owner.user_id),
            "status": str(i.status),
            "dataset": i.dataset,
            "model": i.model,
            "epochs": i.epochs,
            "lr": i.lr,
            "best_val_acc": i.best_val_acc,
            "test_acc": i.test_acc,
            "duration_s": round(i.duration_s, 1) if i.duration_s is not None else None,
        }
        for i in list_runs(args.runs_dir, status=status)
    ]
    if not args.json:  # headers for people
        heads = {"duration_s": "time (s)"}
        rows = [{heads.get(k, k.replace("_", " ")): v for k, v in r.items()} for r in rows]
    _show(rows, args)
    return EXIT_OK


def resolve_run(run_id: str | None, runs_dir: str | None) -> str:
    """`run_id`, or the latest finished run (else the latest run); RunNotFound when none."""
    from cnnlab.runs import RunNotFound, latest_run

    if run_id:
        return run_id
    latest = latest_run("finished", runs_dir) or latest_run(None, runs_dir)
    if latest is None:
        raise RunNotFound("no runs yet: train one with `cnnlab train`")
    return latest


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cnnlab.data import load_dataset
    from cnnlab.evaluate import evaluate, most_confused
    from cnnlab.runs import load_model

    run_id = resolve_run(args.run, args.runs_dir)
    loaded = load_model(run_id, args.runs_dir)
    phase = Phase(enabled=not args.json)
    phase.start(f"loading the {loaded.config.data.name} dataset")
    try:
        dataset = load_dataset(loaded.config.data)
    finally:
        phase.stop()
    bar = Bar("testing", len(dataset.test.y), "images", enabled=not args.json)
    seen = [0]

    def count(module: Any, inputs: Any, output: Any) -> None:  # one call per batch
        seen[0] += int(inputs[0].shape[0])
        bar.update(seen[0])

    hook = loaded.model.register_forward_hook(count)
    try:
        report = evaluate(loaded.model, dataset.test, loaded.class_names)
    finally:
        hook.remove()
        bar.close()
    confused = most_confused(report, 5)
    if args.json:
        print_json(
            {
                "run": run_id,
                "dataset": dataset.title,
                "test_images": len(dataset.test.y),
                "accuracy": report.accuracy,
                "loss": report.loss,
                "per_class": report.per_class.to_dict("records"),
                "confusion": report.confusion.tolist(),
                "class_names": loaded.class_names,
                "most_confused": confused.to_dict("records"),
            }
        )
        return EXIT_OK
    print(f"run {run_id}: {dataset.title}, {len(dataset.test.y)} test images")
    print(f"accuracy {report.accuracy:.4f}  loss {report.loss:.4f}")
    print(report.per_class.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("\nmost confused (true -> predicted):")
    print(confused.to_string(index=False))
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from cnnlab.data.images import ImageError, open_image
    from cnnlab.inference import predict_images, prepare_image
    from cnnlab.runs import load_model

    if args.top < 1:
        raise UsageError(f"--top {args.top}: must be >= 1")
    run_id = resolve_run(args.run, args.runs_dir)
    loaded = load_model(run_id, args.runs_dir)
    code, rows, errors = EXIT_OK, [], []
    for name in args.images:
        try:
            invert = {"auto": None, "yes": True, "no": False}[args.invert]
            x = prepare_image(open_image(Path(name)), loaded.preprocess, invert, fit=args.fit)
        except (ImageError, OSError) as exc:
            say(f"{name}: {exc}", json_mode=True)
            errors.append({"image": name, "error": str(exc)})
            code = EXIT_FAILED
            continue
        pred = predict_images(loaded.model, [x], loaded.class_names, k=args.top)[0]
        rows.append({"image": name, "class": pred.top[0][0], "confidence": pred.top[0][1]})
        rows[-1]["top"] = [{"class": c, "probability": p} for c, p in pred.top]
    if args.json:
        print_json({"run": run_id, "predictions": rows, "errors": errors})
        return code
    for row in rows:
        row[f"top-{args.top}"] = ", ".join(
            f"{t['class']} {t['probability']:.3f}" for t in row["top"]
        )
        del row["top"]
    print_table(rows)
    return code


def cmd_import_run(args: argparse.Namespace) -> int:
    """Import a downloaded run zip as a new run; prints its id."""
    from cnnlab.runs import import_run_zip

    path = Path(args.file)
    run_id = import_run_zip(path.read_bytes(), args.runs_dir, source=path.name)
    print(f"imported {path.name} as run {run_id}")
    return EXIT_OK
