"""Execute one run folder: load data, build the model, train, save, evaluate — and record it all.

This is what a training job process runs (`python -m cnnlab train --run-dir RUN`). Everything it
learns goes to the run folder (see store.py); it never raises for a failed run: the folder's
status says what went wrong and what to do.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch

from cnnlab.events import BatchEvent, EpochEvent, StartEvent
from cnnlab.runs.history import run_history
from cnnlab.runs.status import Status
from cnnlab.runs.store import Run

Echo = Callable[[Any], None]  # receives each event dataclass (time stamped)


class _EventSink:
    """Buffers events; appends them to the run's events and refreshes its status a few times a
    second (at once for every non-batch event, and for the first batch: on screen soon)."""

    def __init__(self, run: Run, echo: Echo | None, flush_every_s: float = 0.2) -> None:
        self.run, self.echo, self.flush_every_s = run, echo, flush_every_s
        self.pending: list[Any] = []
        self.last_flush = 0.0
        self.progress: dict[str, Any] = {}  # RunStatus fields

    def __call__(self, event: Any) -> None:
        event = dataclasses.replace(event, time=time.time())
        self.pending.append(event)
        if isinstance(event, StartEvent):
            self.progress.update(total_steps=event.total_steps, epochs=event.epochs)
        elif isinstance(event, BatchEvent):
            self.progress.update(
                step=event.step,
                epoch=event.epoch,
                loss=event.loss,
                eta=event.eta,
                images_per_s=event.images_per_s,
                lr=event.lr,
            )
        elif isinstance(event, EpochEvent):
            self.progress.update(val_acc=event.val_acc, val_loss=event.val_loss)
            if event.best:
                self.progress["best_val_acc"] = event.val_acc
        if self.echo:
            self.echo(event)
        batch = isinstance(event, BatchEvent)
        first_point = batch and event.step == 1
        if not batch or first_point or time.monotonic() - self.last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.run.append_events(self.pending)
            self.pending = []
        total = self.progress.get("total_steps") or 0
        fraction = min(1.0, self.progress.get("step", 0) / total) if total else 0.0
        self.run.update_status(**self.progress, progress=fraction)
        self.last_flush = time.monotonic()


def _failure_message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return (
            "out of memory while training: lower the batch size, the image size or the model "
            f"width, or close other runs ({text})"
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            "the disk is full, so the run's files could not be written (the last saved "
            "weights and checkpoint are kept): free some space, e.g. delete old runs, then "
            f"resume the run or start it again ({text})"
        )
    return text


def _on_sigterm(interrupted: dict[str, bool]) -> None:
    """SIGTERM (the server going away, or the job manager's nudge) ends training cleanly."""

    def handler(signum: int, frame: Any) -> None:
        interrupted["flag"] = True

    if hasattr(signal, "SIGTERM"):
        try:
            signal.signal(signal.SIGTERM, handler)
        except ValueError:
            pass  # not the main thread (tests call us from threads): no signal handling there


def _mark_started(run: Run, resume: bool) -> None:
    """Record this process as the run's job; "running" is written once per start (the job
    manager may have written it already when it launched us)."""
    previous = run.status()
    run.update_status(
        None if previous.status == Status.RUNNING else Status.RUNNING,
        pid=os.getpid(),
        started=(previous.started if resume else None) or time.time(),
        ended=None,
        ending=False,
        message="loading the dataset",
    )
    if not resume:
        run.clear_events()


def _meta(dataset: Any, model: Any, cfg: Any) -> dict[str, Any]:
    """What the run folder records about its data and model once they are built."""
    from cnnlab.models import MODELS
    from cnnlab.summary import summarize

    summary = summarize(model, dataset.input_shape)
    return {
        "class_names": dataset.class_names,
        "preprocess": asdict(dataset.preprocess),
        "dataset_title": dataset.title,
        "dataset_source": dataset.source,
        "dataset_notes": dataset.notes,
        "model_title": MODELS.get(cfg.model.name).title,
        "pretrained_note": getattr(model, "pretrained_note", ""),
        "params": summary.total_params,
        "mult_adds": summary.total_mult_adds,
        "split_sizes": {
            "train": len(dataset.train.y),
            "val": len(dataset.val.y),
            "test": len(dataset.test.y),
        },
    }


def _save_and_test(run: Run, cfg: Any, dataset: Any, model: Any, result: Any) -> float:
    """Best weights saved, the test split scored, the final metrics written; the test accuracy.
    Counts and times come from the run's history (latest pass), as everywhere else."""
    from cnnlab.device import pick_device
    from cnnlab.training import evaluate_split

    run.save_weights(result.best_state)
    device = pick_device(cfg.train.device)
    test_loss, test_acc = evaluate_split(
        model, dataset.test.x, dataset.test.y, cfg.train.eval_batch_size, device
    )
    history = run_history(run)
    last = history.last_epoch
    run.write_metrics(
        {
            "test_acc": test_acc,
            "test_loss": test_loss,
            "best_val_acc": result.best_val_acc,
            "best_epoch": result.best_epoch,
            "epochs_done": history.epochs_done,
            "train_time_s": last.elapsed if last else None,
            "final_train_acc": last.train_acc if last else None,
        }
    )
    return test_acc


def execute_run(
    run: Run, *, resume: bool = False, echo: Echo | None = None, collective: Any = None
) -> str:
    """Train the run in this process; returns its final status (never raises for a failed run).
    `collective`: this is rank 0 of a torchrun run (cnnlab/distributed.py)."""
    from cnnlab.data import DatasetUnavailable, load_dataset
    from cnnlab.finetune import FinetuneError, prepare
    from cnnlab.models import ImageNetUnavailable, build_model
    from cnnlab.runs.monitors import build_monitors
    from cnnlab.training import train

    interrupted = {"flag": False}
    _on_sigterm(interrupted)
    _mark_started(run, resume)
    sink = _EventSink(run, echo)
    try:
        cfg = run.config()
        dataset = load_dataset(cfg.data)
        torch.manual_seed(cfg.train.seed)  # model init depends on the seed too
        model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
        start = prepare(
            model, cfg.model, class_names=dataset.class_names, runs_dir=run.path.parent,
            progress=_download_progress(run, sink, cfg.model.name),
        )  # fmt: skip
        run.write_meta({**_meta(dataset, model, cfg), "start_messages": list(start.messages)})
        checkpoint = run.load_checkpoint() if resume else None
        run.update_status(message="training")
        # A stop requested now was a Stop press during loading: honour it at the first batch.
        # (Stale ones are cleared before a job starts: JobManager._start, `train --run-dir`.)
        result = train(
            cfg,
            dataset,
            model,
            emit=sink,
            should_stop=lambda: interrupted["flag"] or run.stop_requested(),
            resume=checkpoint,
            checkpoint=run.save_checkpoint,
            monitors=build_monitors(run, cfg, dataset, resume),
            collective=collective,
        )
        sink.flush()
        # The loop is over: the job manager no longer signals a stop request from here on.
        run.update_status(ending=True, message="saving the weights and testing the model")
        test_acc = _save_and_test(run, cfg, dataset, model, result)
        status, message = Status(result.status), result.message
        # SIGTERM without a Stop press means the server is going away; with one, it was the job
        # manager's nudge to a slow stop, and the run is simply stopped.
        if status == Status.STOPPED and interrupted["flag"] and not run.stop_requested():
            status = Status.INTERRUPTED
            message = "training was interrupted (the server stopped); resume it from the Runs page"
        run.update_status(
            status,
            message=message,
            ended=time.time(),
            best_val_acc=result.best_val_acc,
            test_acc=test_acc,
        )
        return status.value
    except DatasetUnavailable as exc:
        return _fail(run, sink, str(exc), kind="data_unavailable")
    except (FinetuneError, ImageNetUnavailable) as exc:  # the start asked for cannot be made
        return _fail(run, sink, str(exc), kind="weights_unavailable")
    except BaseException as exc:  # noqa: BLE001 - a job records every failure in its run folder
        try:
            run.write_error(traceback.format_exc())
        except OSError:
            pass  # e.g. the disk is full: the status below matters more
        if isinstance(exc, KeyboardInterrupt):
            run.update_status(
                Status.INTERRUPTED,
                ended=time.time(),
                message="training was interrupted; resume it from the Runs page",
            )
            return Status.INTERRUPTED.value
        return _fail(run, sink, _failure_message(exc))


def _download_progress(run: Run, sink: _EventSink, model: str) -> Callable[[int, int], None]:
    """ImageNet weights downloading: a DownloadEvent each time, and the status message the
    Train page shows before training starts ("downloading ... 12.3 of 44.7 MB")."""
    from cnnlab.events import DownloadEvent
    from cnnlab.models import IMAGENET

    name = os.path.basename(IMAGENET[model].enum().url) if model in IMAGENET else model

    def report(done: int, total: int) -> None:
        sink(DownloadEvent(file=name, done_bytes=done, total_bytes=total))
        of = f" of {total / 1e6:.1f} MB" if total else " MB"
        run.update_status(message=f"downloading ImageNet weights {name}: {done / 1e6:.1f}{of}")

    return report


def _fail(run: Run, sink: _EventSink, message: str, kind: str = "error") -> str:
    try:
        sink.flush()
    except OSError:
        pass  # the disk may be what failed; the status write below is the one that matters
    try:
        run.update_status(Status.FAILED, message=message, ended=time.time(), error_kind=kind)
    except OSError:
        pass  # nothing can be written: the job manager marks the run failed when we exit
    return Status.FAILED.value
