"""Runs as tables and labels for the pages: the runs table, the comparison, run names.

Counts and curves come from each run's `History` (latest pass), so the comparison chart, its
"epochs done" column, Evaluate's curves and the live view agree for resumed runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from cnnlab.classroom.identity import LOCAL_ID
from cnnlab.events import EpochEvent
from cnnlab.runs.history import run_history
from cnnlab.runs.live import format_duration
from cnnlab.runs.store import RunInfo, get_run

COMPARE_METRICS = {  # epoch-event field -> label, for the compare chart's picker
    "val_acc": "validation accuracy",
    "val_loss": "validation loss",
    "train_acc": "train accuracy",
    "train_loss": "train loss",
}


def viewer_time(timestamp: float, tz: str | None = None) -> dt.datetime:
    """A Unix time (s) as an aware datetime in the viewer's IANA time zone `tz` (e.g. the
    browser's "Europe/Paris"); the server's own zone when `tz` is None or unknown."""
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    try:
        return when.astimezone(ZoneInfo(tz)) if tz else when.astimezone()
    except (ZoneInfoNotFoundError, ValueError):  # a browser may send any text
        return when.astimezone()


def short_title(title: str) -> str:
    """ "Shapes (generated, 32x32 colour)" -> "Shapes": titles without their parenthesis."""
    return title.split(" (")[0]


def owner_name(info: RunInfo) -> str:
    """Who started a run, for people: their display name ("" for the laptop lab's own runs)."""
    return info.owner.name if info.owner.user_id != LOCAL_ID else ""


def run_title(info: RunInfo, tz: str | None = None, owner: bool = False) -> str:
    """One line naming a run in a picker: when, what data and model, which optimizer, then its
    given name (if any) and, with `owner`, who started it (classroom mode).

    Only what never changes while a run trains (pickers keep showing an option's first label;
    a rename is a person's act, and pickers take run ids, not labels), and plain text, no emoji
    (it must read the same with every font). The dataset is lower-case so the label reads the
    same before the job starts (config name) and after (dataset title). The time is in the
    viewer's zone `tz` (see `viewer_time`).
    """
    when = viewer_time(info.created, tz).strftime("%d %b %H:%M")
    title = (
        f"{when} · {short_title(info.dataset).lower()} · {info.model} · {info.optimizer} "
        f"lr {info.lr:g} · {info.epochs} epochs"
    )
    if info.name:
        title += f' · "{info.name}"'
    who = owner_name(info) if owner else ""
    return f"{title} · by {who}" if who else title


def short_name(info: RunInfo) -> str:
    """A legend entry: architecture, optimizer and lr, and the run id's random tail (unique)."""
    return f"{info.model} · {info.optimizer} lr {info.lr:g} · #{info.run_id[-6:]}"


def runs_frame(runs: list[RunInfo], tz: str | None = None, owner: bool = False) -> pd.DataFrame:
    """The Runs page's table: one row per run, newest first as given; "started" in zone `tz`;
    its given name, and with `owner` who started it (classroom mode)."""
    return pd.DataFrame(
        [
            {
                "status": str(r.status),
                "name": r.name,
                **({"owner": owner_name(r) or "(lab)"} if owner else {}),
                "started": viewer_time(r.created, tz),
                "dataset": short_title(r.dataset),
                "architecture": r.model,
                "optimizer": r.optimizer,
                "lr": r.lr,
                "batch": r.batch_size,
                "epochs": r.epochs,
                "best val acc": r.best_val_acc,
                "test acc": r.test_acc,
                "duration": format_duration(r.duration_s),
                "message": r.message,
                "run": r.run_id,
            }
            for r in runs
        ]
    )


@dataclass(frozen=True)
class Comparison:
    """Several runs side by side: their epoch curves (legend name -> epochs) and final metrics."""

    curves: dict[str, list[EpochEvent]] = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    max_epochs: int = 0  # the most epochs any of them is configured for


def compare_runs(runs: list[RunInfo], runs_dir: str | Path | None = None) -> Comparison:
    """Curves and the final-metrics table of `runs`, both from each run's history."""
    curves, rows = {}, []
    for info in runs:
        run = get_run(info.run_id, runs_dir)
        history = run_history(run)
        metrics = run.metrics()
        last, best = history.last_epoch, history.best_epoch
        curves[short_name(info)] = history.epochs
        rows.append(
            {
                "run": short_name(info),
                "status": str(info.status),
                "dataset": short_title(info.dataset),
                "epochs done": history.epochs_done,
                "best epoch": best.epoch if best else None,
                "final train acc": last.train_acc if last else None,
                "best val acc": info.best_val_acc,
                "test acc": info.test_acc,
                "test loss": metrics.get("test_loss"),
                "train time": format_duration(last.elapsed if last else None),
            }
        )
    return Comparison(curves, pd.DataFrame(rows), max((r.epochs for r in runs), default=0))
