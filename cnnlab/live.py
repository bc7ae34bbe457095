"""What the Train page's live panel shows, computed from a run folder (events.jsonl + status.json).

The page re-runs its live fragment every ~0.5-1 s and calls `read_live` each time. Reading a whole
events.jsonl is cheap (batch events are rate-limited to ~20/s, so a long run has a few thousand
lines); a caller that keeps the previous `LiveView` can pass it to read only the new bytes.

Everything here is safe to feed to widgets: `progress` is a finite float in [0, 1] (st.progress
raises on NaN or on 1.0000001), numbers that are unknown or not finite are None, texts are plain.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cnnlab.runs import ACTIVE, Run, RunInfo, get_run

BATCH_COLUMNS = ["step", "epoch", "loss", "acc", "lr", "images_per_s", "elapsed"]
EPOCH_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "elapsed"]


@dataclass
class LiveView:
    """A snapshot of one run for the live panel; see the module docstring for the guarantees."""

    run_id: str
    status: str  # queued, running, finished, stopped, diverged, failed, interrupted
    message: str  # status.json's message ("" when none)
    batches: list[dict[str, Any]] = field(default_factory=list)  # batch events, latest pass only
    epochs: list[dict[str, Any]] = field(default_factory=list)  # epoch events, latest pass only
    start: dict[str, Any] = field(default_factory=dict)  # the last start event (sizes, device)
    end: dict[str, Any] = field(default_factory=dict)  # the end event, once training is over
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
    test_acc: float | None = None  # from metrics.json once the run has ended
    offset: int = 0  # bytes of events.jsonl read so far (for incremental reads)
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)  # all events read

    @property
    def active(self) -> bool:
        """Queued or running: the page keeps refreshing."""
        return self.status in ACTIVE

    @property
    def eta_text(self) -> str:
        """ "about 1 min 20 s left", "finishing…", or "" when there is nothing to say."""
        if self.status != "running" or self.eta_s is None:
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

    def chart_batches(self, max_points: int = 500) -> list[dict[str, Any]]:
        """At most `max_points` batch events, evenly spaced, always keeping the latest one: a long
        run's live chart stays cheap to build, send and draw every second."""
        return thin(self.batches, max_points)

    def batch_frame(self) -> pd.DataFrame:
        """Batch events as a table (columns BATCH_COLUMNS; missing values NaN)."""
        return pd.DataFrame(self.batches, columns=BATCH_COLUMNS, dtype=float)

    def epoch_frame(self) -> pd.DataFrame:
        """Epoch events as a table (columns EPOCH_COLUMNS; missing values NaN)."""
        return pd.DataFrame(self.epochs, columns=EPOCH_COLUMNS, dtype=float)


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


def _latest_pass(events: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Events ordered by `key`, keeping only the latest pass over each value (a resumed run
    re-emits steps from its checkpoint on): read backwards, keep strictly decreasing keys."""
    kept: list[dict[str, Any]] = []
    for event in reversed(events):
        value = finite(event.get(key))
        if value is None:
            continue
        if not kept or value < kept[-1][key]:
            kept.append(event)
    return kept[::-1]


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
    new, offset = run.read_events(offset)
    if offset < (previous.offset if previous else 0):  # the file was rewritten: start over
        events, (new, offset) = [], run.read_events(0)
    events.extend(e for e in new if isinstance(e, dict))
    return build_view(run.run_id, status, events, run.metrics(), offset)


def build_view(
    run_id: str,
    status: dict[str, Any],
    events: list[dict[str, Any]],
    metrics: dict[str, Any] | None = None,
    offset: int = 0,
) -> LiveView:
    """The live view from a status dict, the run's events and its metrics (pure; for tests)."""
    metrics = metrics or {}
    state = str(status.get("status") or "failed")
    view = LiveView(
        run_id=run_id,
        status=state,
        message=str(status.get("message") or ""),
        offset=offset,
        events=events,
    )
    for event in events:  # the latest start, and the end of that same pass (a resume restarts)
        if event.get("type") == "start":
            view.start, view.end = event, {}
        elif event.get("type") == "end":
            view.end = event
    view.batches = _latest_pass([e for e in events if e.get("type") == "batch"], "step")
    view.epochs = _latest_pass([e for e in events if e.get("type") == "epoch"], "epoch")

    view.epochs_total = int(finite(view.start.get("epochs")) or finite(status.get("epochs")) or 0)
    view.total_steps = int(
        finite(view.start.get("total_steps")) or finite(status.get("total_steps")) or 0
    )
    last = view.batches[-1] if view.batches else {}
    view.step = int(finite(last.get("step")) or finite(status.get("step")) or 0)
    view.epoch = int(finite(last.get("epoch")) or finite(status.get("epoch")) or 0)
    view.loss = finite(last.get("loss"))
    view.lr = finite(last.get("lr")) if last else finite(status.get("lr"))
    # Throughput: the median of the last few reports (one slow batch should not make it jump).
    speeds = [
        s
        for s in (finite(b.get("images_per_s")) for b in view.batches[-5:])
        if s is not None and s > 0
    ]
    view.images_per_s = statistics.median(speeds) if speeds else None

    elapsed = [finite(e.get("elapsed")) for e in (view.end, last, *view.epochs[-1:]) if e]
    elapsed = [t for t in elapsed if t is not None]
    view.elapsed_s = max(elapsed) if elapsed else None
    if state == "running":
        view.eta_s = _eta(last, view)
    view.progress = 1.0 if state == "finished" else fraction(view.step, view.total_steps)

    best = [finite(e.get("val_acc")) for e in view.epochs if e.get("best")]
    best = [b for b in best if b is not None]
    view.best_val_acc = (
        finite(status.get("best_val_acc"))
        or finite(view.end.get("best_val_acc"))
        or (best[-1] if best else None)
    )
    view.test_acc = finite(metrics.get("test_acc")) if state not in ACTIVE else None
    return view


def _eta(last: dict[str, Any], view: LiveView) -> float | None:
    """Seconds left: the engine's estimate, less the time since it was made; else from the rate."""
    eta = finite(last.get("eta"))
    if eta is None and view.step and view.elapsed_s:
        eta = view.elapsed_s / view.step * max(0, view.total_steps - view.step)
    if eta is None:
        return None
    stamp = finite(last.get("time"))
    if stamp is not None:
        eta -= min(max(0.0, time.time() - stamp), eta)  # the event may be a second old
    return max(0.0, eta)


def short_title(title: str) -> str:
    """ "Shapes (generated, 32x32 colour)" -> "Shapes": titles without their parenthesis."""
    return title.split(" (")[0]


def run_title(info: RunInfo) -> str:
    """One line naming a run in a picker: when, what data and model, which optimizer.

    Only what never changes while a run trains (pickers keep showing an option's first label),
    and plain text, no emoji (it must read the same with every font). The dataset is lower-case
    so the label reads the same before the job starts (config name) and after (dataset title).
    """
    when = time.strftime("%d %b %H:%M", time.localtime(info.created))
    return (
        f"{when} · {short_title(info.dataset).lower()} · {info.model} · {info.optimizer} "
        f"lr {info.lr:g} · {info.epochs} epochs"
    )
