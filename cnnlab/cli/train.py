"""`cnnlab train`: the run's config from the recipe, `--config` and the flags, validated before
anything is written; then training with progress (or `--json` event lines) and the result."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cnnlab.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NO_DATA, EXIT_NO_RUN, EXIT_OK, flags
from cnnlab.cli.output import fmt, print_json, say
from cnnlab.cli.progress import Bar, Phase

SKIPPED_SHOWN = 10  # skipped files listed on screen (the rest are counted)


class UsageError(ValueError):
    """Bad settings: the CLI prints the usage and this message and exits 2 (nothing written)."""


def _base_config(source: str, runs_dir: str | None) -> dict[str, Any]:
    """The config dict `--config` names: a config.json file, a run folder or a run id."""
    import json

    from cnnlab.config import to_dict
    from cnnlab.runs import RunNotFound, get_run, run_from_dir

    path = Path(source).expanduser()
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"--config {source}: not readable as JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise UsageError(f"--config {source}: not a JSON object (a saved config.json)")
        return data
    try:
        run = run_from_dir(path) if path.is_dir() else get_run(source, runs_dir)
        return to_dict(run.config())
    except RunNotFound as exc:
        raise UsageError(f"--config {source}: no such file, run folder or run id ({exc})") from exc
    except ValueError as exc:  # the run's config.json is damaged or out of range
        raise UsageError(f"--config {source}: {exc}") from exc


def build_config(args: argparse.Namespace) -> Any:
    """The RunConfig to train: base (--config, else the dataset's recipe), then --no-augment,
    then every flag given; validated (types, ranges, registry names) or UsageError."""
    from cnnlab.cli.finetune import apply_start, check_freeze
    from cnnlab.config import AugmentConfig, RunConfig, to_dict
    from cnnlab.recipes import default_run_config
    from cnnlab.schema import ConfigError, build, check_names

    given = flags.overrides(args)
    if args.config:
        base = _base_config(args.config, args.runs_dir)
    else:
        try:
            recipe = default_run_config(
                given.get("data.name", "shapes"), getattr(args, "recipe", "default")
            )
        except ValueError as exc:  # no long recipe for this dataset: say which it has
            raise UsageError(f"--recipe: {exc}") from exc
        base = to_dict(recipe)
    base = apply_start(base, given, args)  # --from-run / --more-epochs
    if args.no_augment:
        base["augment"] = to_dict(AugmentConfig())
    if getattr(args, "patch", None):  # a dataset version: `cnnlab mislabels --write-patch`
        base.setdefault("data", {})["patch"] = _read_patch(args.patch)
    try:
        config = build(RunConfig, flags.apply(base, given))
        check_names(config)
    except ConfigError as exc:
        raise UsageError("invalid settings: " + "; ".join(exc.problems)) from exc
    check_freeze(config, args.runs_dir)
    return config


def _read_patch(source: str) -> dict[str, Any]:
    from cnnlab.data.patch import PatchError, patch_dict, read_patch

    try:
        return patch_dict(read_patch(Path(source).expanduser()))
    except PatchError as exc:
        raise UsageError(f"--patch {exc}") from exc


class Reporter:
    """Turns the run's events into progress, epoch lines and warnings (or JSON lines)."""

    def __init__(self, run: Any, quiet: bool, json_mode: bool) -> None:
        self.run, self.quiet, self.json = run, quiet, json_mode
        self.bar: Bar | None = None
        self.phase = Phase(enabled=not (quiet or json_mode))

    def __call__(self, event: Any) -> None:
        from cnnlab.events import (
            BatchEvent,
            DownloadEvent,
            EndEvent,
            EpochEvent,
            StartEvent,
            to_dict,
        )

        if isinstance(event, StartEvent):
            self.phase.stop()
            self._dataset_report()
        if self.json:
            print_json(to_dict(event))
            return
        if self.quiet:
            return
        if isinstance(event, StartEvent):
            self._start(event)
        elif isinstance(event, BatchEvent) and self.bar is not None:
            self.bar.update(
                event.step,
                loss=fmt(event.loss),
                **{"img/s": fmt(event.images_per_s, "{:,.0f}"), "ETA": fmt(event.eta, "{:.0f}s")},
            )
        elif isinstance(event, EpochEvent):
            self._epoch(event)
        elif isinstance(event, DownloadEvent):  # ImageNet weights, before training
            self.phase.stop()
            self.bar = self.bar or Bar(f"downloading {event.file}", event.total_bytes, "B")
            self.bar.update(event.done_bytes)
        elif isinstance(event, EndEvent):
            self.close()
            if event.message:
                print(event.message, flush=True)
            test = self.run.meta().get("split_sizes", {}).get("test", "the")
            self.phase.start(f"testing {test} test images")

    def _start(self, event: Any) -> None:
        print(
            f"training {event.train_size} images, {event.epochs} epochs x "
            f"{event.steps_per_epoch} steps, batch {event.batch_size}, on "
            f"{event.device} ({event.threads} threads)",
            flush=True,
        )
        self.close()
        self.bar = Bar("training", event.total_steps, "steps")
        self.bar.update(event.resumed_epoch * event.steps_per_epoch)

    def _epoch(self, event: Any) -> None:
        if self.bar is not None and self.bar.tqdm is not None:
            self.bar.tqdm.clear()
        print(
            f"epoch {event.epoch}: train loss {fmt(event.train_loss)} acc "
            f"{fmt(event.train_acc)} | val loss {fmt(event.val_loss)} acc "
            f"{fmt(event.val_acc)} | {fmt(event.elapsed, '{:.1f}')}s",
            flush=True,
        )

    def _dataset_report(self) -> None:
        """Warnings of the loaded dataset, and every file a folder dataset skipped (on stderr
        in --json mode as a {"type": "dataset"} line)."""
        meta, cfg = self.run.meta(), self.run.config()
        warnings = [n for n in meta.get("dataset_notes", []) if str(n).startswith("warning:")]
        skipped: list[tuple[str, str]] = []
        if cfg.data.name == "folder":
            from cnnlab.data import skipped_files

            skipped = skipped_files(cfg.data)
        if self.json:
            doc = {"type": "dataset", "title": meta.get("dataset_title"), "warnings": warnings}
            print_json({**doc, "skipped": [{"file": f, "why": w} for f, w in skipped]})
            return
        if self.quiet:
            return
        sizes = ", ".join(f"{n} {k}" for k, n in meta.get("split_sizes", {}).items())
        print(f"dataset: {meta.get('dataset_title')} ({sizes})", flush=True)
        for note in warnings:
            print(note, flush=True)
        if skipped:
            print(f"skipped {len(skipped)} file(s):", flush=True)
            for name, why in skipped[:SKIPPED_SHOWN]:
                print(f"  {name}: {why}", flush=True)
            if len(skipped) > SKIPPED_SHOWN:
                print(f"  ... and {len(skipped) - SKIPPED_SHOWN} more", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _open_run(args: argparse.Namespace) -> Any:
    from cnnlab.distributed import env_rank
    from cnnlab.runs import Status, create_run, run_from_dir

    if not args.run_dir:
        if env_rank() is not None:
            raise UsageError(
                "under torchrun every process needs the same run: create it once with "
                "--create-only, then give each node `train --run-dir RUN`"
            )
        return create_run(build_config(args), args.runs_dir)
    run = run_from_dir(args.run_dir)  # job mode: the app created the folder with its config
    if run.status().status != Status.RUNNING:  # by hand, not from a JobManager: a stop
        run.clear_stop()  # request is left over from an earlier stop
    return run


def cmd_train(args: argparse.Namespace) -> int:
    from cnnlab.config import to_dict
    from cnnlab.runs import RunNotFound
    from cnnlab.runs.runner import execute_run

    if args.print_config:
        print_json(to_dict(build_config(args)))
        return EXIT_OK
    try:
        run = _open_run(args)
    except RunNotFound as exc:
        print(exc, file=sys.stderr)
        return EXIT_NO_RUN
    from cnnlab.distributed import env_rank, execute_rank, launch

    rank = env_rank()
    if rank is not None:  # one rank of a torchrun run: rank 0 reports, the launcher sums up
        reporter = Reporter(run, args.quiet or rank > 0, args.json and rank == 0)
        status = execute_rank(run, resume=args.resume, echo=reporter)
        reporter.close()
        code = EXIT_OK if status in ("finished", "stopped") else EXIT_FAILED
        # Everything is written (rank 0's files atomically, the others write none): skip the
        # interpreter's teardown, ~2 s after a DDP run here, so a Stop ends every rank at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if args.json:
        print_json({"type": "run", "run_id": run.run_id, "path": str(run.path)})
    else:
        say(f"run {run.run_id} in {run.path}")
    if args.create_only:
        print(run.path)
        return EXIT_OK
    if run.config().train.nproc > 1:
        flags = ["--quiet"] * args.quiet + ["--json"] * args.json
        return _report_end(run, launch(run, resume=args.resume, flags=flags), args.json)
    reporter = Reporter(run, args.quiet, args.json)
    reporter.phase.start(f"loading the {run.config().data.name} dataset")
    try:
        status = execute_run(run, resume=args.resume, echo=reporter)
    finally:
        reporter.close()
        reporter.phase.stop()
    return _report_end(run, status, args.json)


def _report_end(run: Any, status: str, json_mode: bool) -> int:
    final, metrics = run.status(), run.metrics()
    if json_mode:
        print_json({"type": "result", "status": status, "message": final.message, **metrics})
    elif metrics.get("test_acc") is not None:
        print(
            f"{status}: test accuracy {metrics['test_acc']:.4f}, best val accuracy "
            f"{fmt(metrics.get('best_val_acc'))} (epoch {metrics.get('best_epoch')})"
        )
    else:
        print(f"{status}: {final.message}", file=sys.stderr)
    if status == "failed" and final.error_kind == "data_unavailable":
        return EXIT_NO_DATA
    codes = {"finished": EXIT_OK, "stopped": EXIT_OK, "interrupted": EXIT_INTERRUPTED}
    return codes.get(status, EXIT_FAILED)
