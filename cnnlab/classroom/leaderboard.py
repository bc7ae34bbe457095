"""The lesson's leaderboard: each student's best tested run, ranked by test accuracy.

Per lesson preset (runs whose `RunOwner.lesson` is the lesson's id): one row per student, their
run with the highest test accuracy (ties: the shorter training time), with the recipe's key
hyperparameters, the network's parameter count and size on disk, and its training time. Rows
are ranked by test accuracy; equal accuracies rank the faster training first. Runs without a
test accuracy (queued, training, failed, not tested) are not ranked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from cnnlab.classroom.class_runs import ClassRun
from cnnlab.config import RunConfig
from cnnlab.runs.live import format_duration


@dataclass(frozen=True)
class Entry:
    """One leaderboard row."""

    rank: int  # 1 = best; equal accuracy and time share a rank
    user_id: str
    name: str  # display name (shown escaped)
    run_id: str
    test_acc: float  # [0, 1]
    train_s: float | None  # training seconds
    params: int | None  # trainable parameters
    weights_bytes: int | None  # size of the best weights on disk
    dataset: str
    model: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    runs: int  # the student's tested runs in this lesson


def _key(record: ClassRun) -> tuple[float, float]:
    """Sort key: higher accuracy first, then shorter training (unknown time last)."""
    time_s = record.train_s if record.train_s is not None else math.inf
    return (-(record.test_acc or 0.0), time_s)


def _entry(rank: int, best: ClassRun, runs: int) -> Entry:
    cfg = best.config or RunConfig()
    return Entry(
        rank=rank,
        user_id=best.owner.user_id,
        name=best.owner.name or best.owner.user_id,
        run_id=best.run_id,
        test_acc=float(best.test_acc or 0.0),
        train_s=best.train_s,
        params=best.params,
        weights_bytes=best.weights_bytes,
        dataset=cfg.data.name,
        model=cfg.model.name,
        optimizer=cfg.train.optimizer,
        lr=cfg.train.lr,
        batch_size=cfg.train.batch_size,
        epochs=cfg.train.epochs,
        runs=runs,
    )


def leaderboard(records: Iterable[ClassRun], lesson: str, top: int | None = None) -> list[Entry]:
    """The ranked rows of `lesson` from the class's run records (see the module docstring)."""
    best: dict[str, ClassRun] = {}
    counts: dict[str, int] = {}
    for record in records:
        if record.owner.lesson != lesson or record.test_acc is None or record.config is None:
            continue
        user = record.owner.user_id
        counts[user] = counts.get(user, 0) + 1
        if user not in best or _key(record) < _key(best[user]):
            best[user] = record
    ordered = sorted(best.values(), key=lambda r: (*_key(r), r.owner.name, r.run_id))
    rows: list[Entry] = []
    for i, record in enumerate(ordered):
        same = rows and _key(ordered[i - 1]) == _key(record)
        rows.append(_entry(rows[-1].rank if same else i + 1, record, counts[record.owner.user_id]))
    return rows[:top] if top else rows


def format_bytes(n: int | None) -> str:
    """1234567 -> "1.2 MB"; "" when unknown."""
    if n is None:
        return ""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    return f"{n} B"


def format_count(n: int | None) -> str:
    """123456 -> "123k"; "" when unknown."""
    if n is None:
        return ""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 1_000:
        return f"{n / 1e3:.0f}k"
    return str(n)


def format_seconds(seconds: float | None) -> str:
    """Training time: "4.2 s" under ten seconds (quick runs differ there), else "3 min 05 s"."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f} s"
    return format_duration(seconds)
