"""What the Train page's live panel shows, computed from a run folder (its events and status).

The page re-runs its live fragment every ~0.25-1 s. `LiveTail` (one per watched run, shared by
every session that watches it) reads only the bytes appended to the events file since its last
read, so a watching page costs the training job less CPU the longer the run goes (issue 13).

Everything here is safe to feed to widgets: `progress` is a finite float in [0, 1] (st.progress
raises on NaN or on 1.0000001), numbers that are unknown or not finite are None, texts are plain.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cnnlab.events import BatchEvent, EndEvent, EpochEvent, StartEvent
from cnnlab.runs.history import history_from_events
from cnnlab.runs.status import ACTIVE, RunStatus, Status
from cnnlab.runs.store import EVENTS_FILE, Run, get_run

BATCH_COLUMNS = ["step", "epoch", "loss", "acc", "lr", "images_per_s", "elapsed"]
EPOCH_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "elapsed"]


@dataclass
class LiveView:
    """A snapshot of one run for the live panel; see the module docstring for the guarantees."""

    run_id: str
    status: Status
    message: str  # the status message ("" when none)
    batches: list[BatchEvent] = field(default_factory=list)  # latest pass only
    epochs: list[EpochEvent] = field(default_factory=list)  # latest pass only
    start: StartEvent | None = None  # the last start event (sizes, device)
    end: EndEvent | None = None  # the end event of that pass, once training is over
    epoch: int = 0  # the epoch being trained (1-based); 0 before the first batch
    epochs_total: int = 0
    step: int = 0  # optimiser steps done
    total_steps: int = 0
    progress: float = 0.0  # in [0, 1], never NaN
    eta_s: float | None = None  # seconds left (None: unknown or not running)
    elapsed_s: float | None = None  # seconds of training so far
    images_per_s: float | None = None  # recent training throughput
    lr: float | None = None  # the learning rate of the latest step
    loss: float | None = None  # the latest batch loss (None when it was NaN/inf)
    best_val_acc: float | None = None
    test_acc: float | None = None  # from the final metrics once the run has ended
    stop_requested: bool = False  # a Stop was pressed and the job has not ended yet
    can_resume: bool = False  # interrupted/failed/stopped with a checkpoint
    error_text: str = ""  # the tail of a failed run's traceback
    weights_version: float = 0.0  # cache key of the saved weights (0.0: none yet)
    offset: int = 0  # bytes of the events file read so far (for incremental reads)
    events: list[Any] = field(default_factory=list, repr=False)  # all events read

    @property
    def active(self) -> bool:
        """Queued or running: the page keeps refreshing."""
        return self.status in ACTIVE

    @property
    def eta_text(self) -> str:
        """ "about 1 min 20 s left", "finishing…", or "" when there is nothing to say."""
        if self.status != Status.RUNNING or self.eta_s is None:
            return ""
        if self.eta_s < 1:
            return "finishing…"
        return f"about {format_duration(self.eta_s)} left"

    @property
    def epoch_text(self) -> str:
        """ "epoch 2/5" ("" before training starts)."""
        if not self.epochs_total:
            return ""
        return f"epoch {max(1, self.epoch)}/{self.epochs_total}"

    def chart_batches(self, max_points: int = 500) -> list[BatchEvent]:
        """At most `max_points` batch events, evenly spaced, always keeping the latest one: a long
        run's live chart stays cheap to build, send and draw every second."""
        return thin(self.batches, max_points)

    def batch_frame(self) -> pd.DataFrame:
        """Batch events as a table (columns BATCH_COLUMNS; missing values NaN)."""
        return _frame(self.batches, BATCH_COLUMNS)

    def epoch_frame(self) -> pd.DataFrame:
        """Epoch events as a table (columns EPOCH_COLUMNS; missing values NaN)."""
        return _frame(self.epochs, EPOCH_COLUMNS)


def _frame(events: list[Any], columns: list[str]) -> pd.DataFrame:
    rows = [dataclasses.asdict(e) for e in events]
    return pd.DataFrame(rows, columns=columns, dtype=float)


def finite(value: Any) -> float | None:
    """`value` as a float when it is a finite number, else None (NaN, inf, None, text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def thin(items: list[Any], max_items: int) -> list[Any]:
    """Every k-th item (k = ceil(len / max_items)), counted back from the last one, which is kept."""
    if max_items <= 0 or len(items) <= max_items:
        return list(items)
    k = math.ceil(len(items) / max_items)
    return items[(len(items) - 1) % k :: k]


def fraction(done: Any, total: Any) -> float:
    """done / total clamped to [0, 1]; 0.0 when either is unknown, not finite or total <= 0."""
    done, total = finite(done), finite(total)
    if done is None or total is None or total <= 0:
        return 0.0
    return min(1.0, max(0.0, done / total))


def format_duration(seconds: Any) -> str:
    """Seconds as "42 s", "3 min 05 s", "1 h 02 min"; "" when unknown."""
    seconds = finite(seconds)
    if seconds is None:
        return ""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def read_live(
    run: Run | str, previous: LiveView | None = None, runs_dir: str | Path | None = None
) -> LiveView:
    """The live view of `run` (a Run or a run id); with `previous`, reads only new events.

    Raises `RunNotFound` for an unknown id; never raises for damaged or half-written files.
    """
    if isinstance(run, str):
        run = get_run(run, runs_dir)
    status = run.status()
    offset, events = 0, []
    if previous is not None and previous.run_id == run.run_id:
        offset, events = previous.offset, list(previous.events)
        if _size(run.path / EVENTS_FILE) < offset:  # cleared and rewritten: start over
            offset, events = 0, []
    new, offset = run.read_events(offset)
    events.extend(new)
    view = build_view(run.run_id, status, events, run.metrics(), offset)
    view.stop_requested = status.status == Status.RUNNING and run.stop_requested()
    view.can_resume = run.can_resume(status)
    view.error_text = run.error_text() if status.status == Status.FAILED else ""
    view.weights_version = run.weights_version()
    return view


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class LiveTail:
    """The live view of one run, read incrementally (only new event bytes) and thread-safe, so
    every session watching the run can share one (the app keeps one per run in a cache)."""

    def __init__(self, run_id: str, runs_dir: str | Path | None = None) -> None:
        self.run_id, self.runs_dir = run_id, runs_dir
        self._lock = threading.Lock()
        self._view: LiveView | None = None
        self._read_at = 0.0  # monotonic time of the last read

    def read(self, max_age_s: float = 0.0) -> LiveView:
        """The current view; one read from disk per `max_age_s` at most, however many sessions
        ask (a view is never mutated once returned). Raises RunNotFound like `read_live`."""
        with self._lock:
            now = time.monotonic()
            if self._view is None or now - self._read_at >= max_age_s:
                self._view = read_live(self.run_id, self._view, self.runs_dir)
                self._read_at = now
            return self._view


def build_view(
    run_id: str,
    status: RunStatus,
    events: list[Any],
    metrics: dict[str, Any] | None = None,
    offset: int = 0,
) -> LiveView:
    """The live view from a status record, the run's events and its metrics (pure; for tests).
    The latest batch event wins; before the first one, the status record's progress is shown."""
    history = history_from_events(events)
    last = history.batches[-1] if history.batches else None
    start = history.start
    view = LiveView(
        run_id=run_id,
        status=status.status,
        message=status.message,
        batches=history.batches,
        epochs=history.epochs,
        start=start,
        end=history.end,
        epochs_total=(start.epochs if start else 0) or status.epochs,
        total_steps=(start.total_steps if start else 0) or status.total_steps,
        step=last.step if last else status.step,
        epoch=last.epoch if last else status.epoch,
        loss=last.loss if last else None,
        lr=last.lr if last else status.lr,
        offset=offset,
        events=events,
    )
    # Throughput: the median of the last few reports (one slow batch should not make it jump).
    speeds = [b.images_per_s for b in history.batches[-5:] if (b.images_per_s or 0) > 0]
    view.images_per_s = statistics.median(speeds) if speeds else None
    times = [e.elapsed for e in (history.end, last, history.last_epoch) if e is not None]
    view.elapsed_s = max((t for t in times if t is not None), default=None)
    if status.status == Status.RUNNING:
        view.eta_s = _eta(last, view)
    view.progress = (
        1.0 if status.status == Status.FINISHED else fraction(view.step, view.total_steps)
    )
    best = history.best_epoch
    view.best_val_acc = (
        status.best_val_acc
        or (history.end.best_val_acc if history.end else None)
        or (best.val_acc if best else None)
    )
    view.test_acc = finite((metrics or {}).get("test_acc")) if not view.active else None
    return view


def _eta(last: BatchEvent | None, view: LiveView) -> float | None:
    """Seconds left: the engine's estimate, less the time since it was made; else from the rate."""
    eta = last.eta if last else None
    if eta is None and view.step and view.elapsed_s:
        eta = view.elapsed_s / view.step * max(0, view.total_steps - view.step)
    if eta is None:
        return None
    if last is not None and last.time:
        eta -= min(max(0.0, time.time() - last.time), eta)  # the event may be a second old
    return max(0.0, eta)
