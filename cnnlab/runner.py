"""Execute one run folder: load data, build the model, train, save, evaluate — and record it all.

This is what a training job process runs (`python -m cnnlab train --run-dir RUN`). Everything it
learns goes to the run folder (see runs.py); it never raises for a failed run: the folder's
status says what went wrong and what to do.
"""

from __future__ import annotations

import errno
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch

from cnnlab import events
from cnnlab.runs import Run

Echo = Callable[[dict[str, Any]], None]


class _EventSink:
    """Buffers events; appends them to events.jsonl and refreshes status.json a few times a second."""

    def __init__(self, run: Run, echo: Echo | None, flush_every_s: float = 0.2) -> None:
        self.run, self.echo, self.flush_every_s = run, echo, flush_every_s
        self.pending: list[dict[str, Any]] = []
        self.last_flush = 0.0
        self.progress: dict[str, Any] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        event = {**event, "time": time.time()}
        self.pending.append(event)
        kind = event["type"]
        if kind == "start":
            self.progress.update(total_steps=event["total_steps"], epochs=event["epochs"])
        elif kind == "batch":
            self.progress.update(
                step=event["step"],
                epoch=event["epoch"],
                loss=event["loss"],
                eta=event["eta"],
                images_per_s=event["images_per_s"],
                lr=event["lr"],
            )
        elif kind == "epoch":
            self.progress.update(val_acc=event["val_acc"], val_loss=event["val_loss"])
            if event["best"]:
                self.progress["best_val_acc"] = event["val_acc"]
        if self.echo:
            self.echo(event)
        now = time.monotonic()
        first_point = kind == "batch" and self.progress.get("step") == 1  # at once: on screen soon
        if kind != "batch" or first_point or now - self.last_flush >= self.flush_every_s:
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


def execute_run(run: Run, *, resume: bool = False, echo: Echo | None = None) -> str:
    """Train the run in this process; returns its final status (never raises for a failed run)."""
    from cnnlab.datasets import DatasetUnavailable, load_dataset
    from cnnlab.models import MODELS, build_model
    from cnnlab.summary import summarize
    from cnnlab.training import evaluate_split, pick_device, train

    interrupted = {"flag": False}

    def on_sigterm(signum: int, frame: Any) -> None:  # server going away: stop cleanly, resumable
        interrupted["flag"] = True

    if hasattr(signal, "SIGTERM"):
        try:
            signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:
            pass  # not the main thread (tests call us from threads): no signal handling there

    previous = run.status()
    started = previous.get("started") if resume else None
    run.update_status(
        status="running",
        pid=os.getpid(),
        started=started or time.time(),
        ended=None,
        ending=None,
        message="loading the dataset",
    )
    if not resume:
        (run.path / "events.jsonl").unlink(missing_ok=True)
    sink = _EventSink(run, echo)
    try:
        cfg = run.config()
        dataset = load_dataset(cfg.data)
        torch.manual_seed(cfg.train.seed)  # model init depends on the seed too
        model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
        summary = summarize(model, dataset.input_shape)
        run.write_meta(
            {
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
        )
        checkpoint = run.load_checkpoint() if resume and run.checkpoint_path.is_file() else None
        run.update_status(message="training")
        # A stop file present now was made by a Stop press during loading: honour it at the first
        # batch. (Stale ones are removed before a job starts: JobManager._start, `train --run-dir`.)
        stop_path = str(run.stop_path)

        def should_stop() -> bool:
            return interrupted["flag"] or os.path.exists(stop_path)

        result = train(
            cfg,
            dataset,
            model,
            emit=lambda e: sink(events.to_dict(e)),  # TODO(merge): the runs helper's typed sink
            should_stop=should_stop,
            resume=checkpoint,
            checkpoint=run.save_checkpoint,
        )
        sink.flush()
        # The loop is over: the job manager no longer signals a stop request from here on.
        run.update_status(ending=True, message="saving the weights and testing the model")
        run.save_weights(result.best_state)
        device = pick_device(cfg.train.device)
        test_loss, test_acc = evaluate_split(
            model, dataset.test.x, dataset.test.y, cfg.train.eval_batch_size, device
        )
        last = events.to_dict(result.history[-1]) if result.history else {}  # TODO(merge)
        run.write_metrics(
            {
                "test_acc": test_acc,
                "test_loss": test_loss,
                "best_val_acc": result.best_val_acc,
                "best_epoch": result.best_epoch,
                "epochs_done": result.epochs_done,
                "train_time_s": last.get("elapsed"),
                "final_train_acc": last.get("train_acc"),
            }
        )
        status, message = result.status, result.message
        # SIGTERM without a Stop press means the server is going away; with one, it was the job
        # manager's nudge to a slow stop, and the run is simply stopped.
        if status == "stopped" and interrupted["flag"] and not run.stop_path.exists():
            status = "interrupted"
            message = "training was interrupted (the server stopped); resume it from the Runs page"
        run.update_status(
            status=status,
            message=message,
            ended=time.time(),
            best_val_acc=result.best_val_acc,
            test_acc=test_acc,
        )
        return status
    except DatasetUnavailable as exc:
        return _fail(run, sink, str(exc), kind="data_unavailable")
    except BaseException as exc:  # noqa: BLE001 - a job records every failure in its run folder
        try:
            (run.path / "error.log").write_text(traceback.format_exc())
        except OSError:
            pass  # e.g. the disk is full: the status below matters more
        if isinstance(exc, KeyboardInterrupt):
            run.update_status(
                status="interrupted",
                ended=time.time(),
                message="training was interrupted; resume it from the Runs page",
            )
            return "interrupted"
        return _fail(run, sink, _failure_message(exc))


def _fail(run: Run, sink: _EventSink, message: str, kind: str = "error") -> str:
    try:
        sink.flush()
    except OSError:
        pass  # the disk may be what failed; the status write below is the one that matters
    try:
        run.update_status(status="failed", message=message, ended=time.time(), error_kind=kind)
    except OSError:
        pass  # nothing can be written: the job manager marks the run failed when we exit
    return "failed"
