"""The class's runs: a cheap, shared view of every run of a lesson, and the teacher's bulk actions.

The projector and the leaderboard refresh every ~2 s in many sessions at once, so re-reading every
run folder each time would cost the server a core. `ClassRuns` keeps one record per run and
re-reads a run only when its status file's `updated` time changed (a finished run: never again;
a training one: its events, a few times a minute); the owner is read once (it never changes).
One instance per server process is shared by every session (thread-safe).

`stop_all` and `clear_class_runs` act on one lesson's runs only, each through the checked backend
calls (`JobManager.stop`, `delete_run`) with the teacher as the actor.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.classroom.identity import Identity
from cnnlab.config import RunConfig
from cnnlab.events import EpochEvent
from cnnlab.runs.access import RunOwner
from cnnlab.runs.history import run_history
from cnnlab.runs.manage import delete_run
from cnnlab.runs.status import ACTIVE, RunStatus
from cnnlab.runs.store import Run, RunNotFound, get_run, resolve_runs_dir

if TYPE_CHECKING:  # the job manager pulls in process handling; only its type is needed here
    from cnnlab.runs.jobs import JobManager

CLEAR_WAIT_S = 15.0  # how long `clear_class_runs` waits for stopped runs to end before deleting


@dataclass(frozen=True)
class ClassRun:
    """What the class views need of one run (read from its folder; see `ClassRuns`)."""

    run_id: str
    owner: RunOwner
    status: RunStatus
    config: RunConfig | None  # None: a damaged config (the run is listed, never ranked)
    params: int | None  # trainable parameters (run meta), None before the job wrote it
    weights_bytes: int | None  # size of the best-weights file, None without one
    test_acc: float | None  # final test accuracy, None until tested
    epochs: tuple[EpochEvent, ...] = ()  # latest pass per epoch (validation curve)

    @property
    def train_s(self) -> float | None:
        """Training time in seconds: to the last epoch's end (saving and testing not counted),
        else since the start (running: so far)."""
        if self.epochs and self.epochs[-1].elapsed is not None:
            return float(self.epochs[-1].elapsed)
        return self.status.duration_s

    @property
    def active(self) -> bool:
        return self.status.status in ACTIVE


def read_class_run(run: Run, owner: RunOwner, status: RunStatus) -> ClassRun:
    """One run's record, read from its folder (config, meta, metrics and history)."""
    try:
        cfg: RunConfig | None = run.config()
    except ValueError:
        cfg = None
    params = run.meta().get("params")
    test_acc = run.metrics().get("test_acc")
    try:
        epochs = tuple(run_history(run).epochs)
    except (OSError, ValueError):
        epochs = ()
    return ClassRun(
        run.run_id,
        owner,
        status,
        cfg,
        params if isinstance(params, int) and not isinstance(params, bool) else None,
        run.weights_bytes(),
        float(test_acc) if isinstance(test_acc, (int, float)) else None,
        epochs,
    )


@dataclass
class _Slot:
    owner: RunOwner
    updated: float | None = None
    record: ClassRun | None = None


@dataclass
class ClassRuns:
    """Every run of the runs folder as `ClassRun` records, re-read only when a run changed."""

    runs_dir: Path
    max_age_s: float = 1.0  # sessions asking within this long share one scan
    _slots: dict[str, _Slot] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _scanned: float = -1e9  # monotonic time of the last scan
    reads: int = 0  # runs (re-)read from disk so far (the benchmark and tests watch it)

    def __post_init__(self) -> None:
        self.runs_dir = resolve_runs_dir(self.runs_dir)

    def records(self, lesson: str | None = None) -> list[ClassRun]:
        """The runs of `lesson` (None = all), newest first."""
        with self._lock:
            if time.monotonic() - self._scanned >= self.max_age_s:
                self._scan()
                self._scanned = time.monotonic()
            found = [s.record for s in self._slots.values() if s.record is not None]
        if lesson is not None:
            found = [r for r in found if r.owner.lesson == lesson]
        return sorted(found, key=lambda r: r.status.created or 0.0, reverse=True)

    def lessons(self) -> set[str]:
        """Lesson ids that runs were started under ("" = outside any lesson)."""
        return {r.owner.lesson for r in self.records()}

    def _scan(self) -> None:
        seen = set()
        for path in self.runs_dir.iterdir():
            try:
                run = get_run(path.name, self.runs_dir)
            except RunNotFound:  # not a run folder (or a half-made one, without its config yet)
                continue
            seen.add(run.run_id)
            slot = self._slots.get(run.run_id)
            if slot is None:
                slot = self._slots[run.run_id] = _Slot(run.owner())
            status = run.status()
            if slot.record is None or status.updated != slot.updated:
                slot.record = read_class_run(run, slot.owner, status)
                slot.updated = status.updated
                self.reads += 1
        for gone in set(self._slots) - seen:  # deleted runs
            del self._slots[gone]

    def invalidate(self) -> None:
        """Scan on the next call (after this session changed runs)."""
        with self._lock:
            self._scanned = -1e9


# -- the teacher's bulk actions ---------------------------------------------------------------
def lesson_runs(runs_dir: Path, lesson: str, spare: str = "") -> list[Run]:
    """The run folders started under `lesson`, but not those of user `spare` (the teacher's own
    demo runs), read fresh (bulk actions never use a cache)."""
    runs = []
    for path in resolve_runs_dir(runs_dir).iterdir():
        try:
            run = get_run(path.name, runs_dir)
        except RunNotFound:
            continue
        owner = run.owner()
        if owner.lesson == lesson and not (spare and owner.user_id == spare):
            runs.append(run)
    return runs


def stop_all(
    manager: JobManager, lesson: str, actor: Identity | None, spare: str = ""
) -> list[str]:
    """Stop every queued or running run of `lesson` except user `spare`'s (checked: the teacher
    may); the ids stopped."""
    stopped = []
    for run in lesson_runs(manager.runs_dir, lesson, spare):
        if run.status().status in ACTIVE:
            manager.stop(run.run_id, actor)
            stopped.append(run.run_id)
    return stopped


@dataclass(frozen=True)
class Cleared:
    stopped: list[str]  # active runs that were stopped first
    deleted: list[str]  # run ids deleted
    still_active: list[str]  # stopped runs that had not ended in time (press again)


def clear_class_runs(
    manager: JobManager,
    lesson: str,
    actor: Identity | None,
    spare: str = "",
    wait_s: float = CLEAR_WAIT_S,
) -> Cleared:
    """Delete every run of `lesson`, stopping active ones first and waiting up to `wait_s` for
    them to end (a running run ends within a batch); runs of other lessons, and user `spare`'s,
    are never touched."""
    stopped = stop_all(manager, lesson, actor, spare)
    deadline = time.monotonic() + wait_s
    deleted, still = [], []
    for run in lesson_runs(manager.runs_dir, lesson, spare):
        while run.status().status in ACTIVE and time.monotonic() < deadline:
            time.sleep(0.2)
        if run.status().status in ACTIVE:
            still.append(run.run_id)
            continue
        try:
            delete_run(run.run_id, manager.runs_dir, actor)
        except RunNotFound:  # deleted meanwhile (another teacher tab)
            continue
        except ValueError:  # it became active again (resumed) meanwhile
            still.append(run.run_id)
            continue
        deleted.append(run.run_id)
    return Cleared(stopped, deleted, still)
