"""Find a run's suspect labels: cross-train (or read the cache), then rank; in this process (the
CLI) or as a background job the app starts.

The background job is the CLI itself (`python -m cnnlab mislabels RUN --job ...`), a child
process like a training job, so a long cross-training never blocks the server and a closed tab
loses nothing. The run folder is its only channel: it rewrites its progress record
(`Run.mislabels_job_path`, atomic) a few times a second and leaves the result in the cache
(`cnnlab.mislabels.cache`). Stop = SIGTERM, checked every batch. A record that says running while
its process is gone reads as "interrupted".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.classroom.identity import Identity
from cnnlab.jsonio import atomic_write_json, read_dict
from cnnlab.mislabels import cache
from cnnlab.mislabels.crossval import OutOfSample, Progress, cross_val_probs
from cnnlab.runs.access import check_manage
from cnnlab.runs.store import Run

SPAWN_GRACE_S = 30.0  # a record without a pid yet (the process is starting) counts as running
JOB_NICENESS = 10  # as training jobs: the server stays responsive while it cross-trains


class JobBusy(RuntimeError):
    """Cross-training of this run is already under way."""


@dataclass(frozen=True)
class JobState:
    """The background cross-training of one run, as the page shows it."""

    state: str  # none, running, done, failed, stopped, interrupted
    fraction: float = 0.0  # 0..1
    message: str = ""
    folds: int = 0
    epochs: int = 0  # 0 = the run's own
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"


def find(
    run: Run,
    *,
    folds: int = 4,
    epochs: int = 0,
    refresh: bool = False,
    progress: Callable[[Progress], None] = lambda p: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> OutOfSample:
    """The run's out-of-sample probabilities: from the cache when it matches, else cross-trained
    now with the run's config (its label patch included) and cached. Raises ValueError for a bad
    config or dataset (including a patch that does not fit), DatasetUnavailable, InterruptedError."""
    from cnnlab.data import load_dataset

    if not refresh:
        cached = cache.load(run, folds, epochs)
        if cached is not None:
            return cached
    cfg = run.config()
    dataset = load_dataset(cfg.data)
    oos = cross_val_probs(
        cfg, dataset, folds=folds, epochs=epochs, progress=progress, should_stop=should_stop
    )
    cache.save(run, oos)
    return oos


def read_job(run: Run) -> JobState:
    """The job's record; "running" with its process gone becomes "interrupted"."""
    data = read_dict(run.mislabels_job_path)
    if not data:
        return JobState("none")
    state = JobState(
        state=str(data.get("state", "none")),
        fraction=float(data.get("fraction") or 0.0),
        message=str(data.get("message", "")),
        folds=int(data.get("folds") or 0),
        epochs=int(data.get("epochs") or 0),
        pid=data.get("pid") if isinstance(data.get("pid"), int) else None,
    )
    if state.running and not _alive(state.pid, float(data.get("updated") or 0)):
        return JobState("interrupted", state.fraction, "the cross-training process ended early")
    return state


def write_job(run: Run, state: str, **fields: object) -> None:
    """THE writer of the job record (atomic)."""
    record = {**read_dict(run.mislabels_job_path), **fields, "state": state}
    record["updated"] = time.time()
    atomic_write_json(run.mislabels_job_path, record)


def start_job(run: Run, folds: int, epochs: int, actor: Identity | None = None) -> None:
    """Start cross-training `run` in a child process; AccessDenied for someone else's run,
    JobBusy when one is running already."""
    check_manage(actor, run.owner(), "find mislabelled images in", run.run_id)
    if read_job(run).running:
        raise JobBusy(f"the mislabel search of run {run.run_id} is already running")
    from cnnlab import warm

    cap = warm.default_max_parallel()  # as many as training jobs: each trains k models in turn
    if running_jobs(run.path.parent) >= cap:
        raise JobBusy(
            f"{cap} mislabel search(es) are running on this server already: start this one when "
            "one has finished"
        )
    write_job(
        run, "running", pid=None, fraction=0.0, message="starting", folds=folds, epochs=epochs
    )
    args = [sys.executable, "-m", "cnnlab", "--runs-dir", str(run.path.parent), "mislabels"]
    args += [run.run_id, "--folds", str(folds), "--epochs", str(epochs), "--refresh", "--job"]
    with open(run.log_path, "ab") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=warm.job_env(run.path.parent, warm.default_max_parallel()),
            cwd=str(warm.REPO_ROOT),
            start_new_session=True,  # outlives this script thread; its result is cached
            preexec_fn=lambda: os.nice(JOB_NICENESS),
        )
    write_job(run, "running", pid=process.pid)
    threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends: no zombie


def running_jobs(runs_dir: Path) -> int:
    """How many run folders in `runs_dir` have a mislabel search running (one small read each)."""
    folders = [p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    return sum(read_job(Run(p.name, p)).running for p in folders)


def stop_job(run: Run, actor: Identity | None = None) -> None:
    """Ask the running job to stop (SIGTERM; it ends within one batch)."""
    check_manage(actor, run.owner(), "stop", run.run_id)
    job = read_job(run)
    if job.running and job.pid and _is_cnnlab(job.pid):
        os.kill(job.pid, signal.SIGTERM)


def run_as_job(run: Run, folds: int, epochs: int) -> OutOfSample:
    """What the child process runs: `find` with progress in the job record, SIGTERM = stop."""
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.update(flag=True))
    last = {"t": 0.0}

    def progress(p: Progress) -> None:
        if time.monotonic() - last["t"] >= 0.3 or p.fraction >= 1:
            write_job(run, "running", pid=os.getpid(), fraction=p.fraction, message=p.message)
            last["t"] = time.monotonic()

    write_job(run, "running", pid=os.getpid(), message="loading the dataset")
    try:
        oos = find(run, folds=folds, epochs=epochs, refresh=True, progress=progress,
                   should_stop=lambda: stop["flag"])  # fmt: skip
    except InterruptedError:
        write_job(run, "stopped", message="stopped before it finished")
        raise
    except Exception as exc:  # noqa: BLE001 - the page shows why, the CLI exits non-zero
        write_job(run, "failed", message=f"{type(exc).__name__}: {exc}")
        raise
    write_job(
        run, "done", fraction=1.0, message=f"{folds} folds, held-out accuracy {oos.accuracy:.1%}"
    )
    return oos


def _alive(pid: int | None, updated: float) -> bool:
    if pid is None:
        return time.time() - updated < SPAWN_GRACE_S
    return _is_cnnlab(pid)


def _is_cnnlab(pid: int) -> bool:
    from cnnlab.runs.jobs import _is_job_process

    return _is_job_process(pid)
