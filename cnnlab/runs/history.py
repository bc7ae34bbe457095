"""A run's training history: its events reduced to the latest pass (the one rule for every count).

A resumed run re-emits epochs and steps from its checkpoint on, so its events file holds several
passes. Every place that shows a run's curves or counts (the live view, the Runs table and compare
chart, Evaluate's curves, the CLI, the final metrics) reads them from `History`, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.events import BatchEvent, EndEvent, EpochEvent, StartEvent, latest_pass, of_kind
from cnnlab.runs.store import Run, get_run


@dataclass(frozen=True)
class History:
    """One run's history; `epochs` and `batches` are the latest pass over each epoch / step."""

    start: StartEvent | None = None  # the last start (a resume emits a new one)
    end: EndEvent | None = None  # the end of that same pass, once training is over
    epochs: list[EpochEvent] = field(default_factory=list)
    batches: list[BatchEvent] = field(default_factory=list)

    @property
    def epochs_done(self) -> int:
        """Epochs trained (and validated), counting each epoch once however often it resumed."""
        return len(self.epochs)

    @property
    def last_epoch(self) -> EpochEvent | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def best_epoch(self) -> EpochEvent | None:
        """The last epoch marked best (the weights kept), or None."""
        best = [e for e in self.epochs if e.best and e.val_acc is not None]
        return best[-1] if best else None


def history_from_events(events: Iterable[Any]) -> History:
    """The history of a run's events, in file order (pure; for tests and incremental readers)."""
    events = list(events)
    start, end = None, None
    for event in events:  # the latest start, and the end of that same pass
        if isinstance(event, StartEvent):
            start, end = event, None
        elif isinstance(event, EndEvent):
            end = event
    return History(
        start=start,
        end=end,
        epochs=latest_pass(of_kind(events, EpochEvent), "epoch"),
        batches=latest_pass(of_kind(events, BatchEvent), "step"),
    )


def run_history(run: Run | str, runs_dir: str | Path | None = None) -> History:
    """The history of a run (a Run or a run id)."""
    if isinstance(run, str):
        run = get_run(run, runs_dir)
    return history_from_events(run.read_events()[0])
