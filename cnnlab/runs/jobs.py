"""Background training jobs: a queue, a concurrency cap, stop/resume, and crash bookkeeping.

One `JobManager` per server process is shared by every browser session (the app keeps it in
`st.cache_resource`); sessions keep only run ids. Each job is a child process running
`python -m cnnlab.runs.worker` (a "warm" process that has already imported torch and prepared the
quick start, so the first batch comes quickly: cnnlab/warm.py, cnnlab/runs/worker.py) or
`python -m cnnlab train --run-dir RUN`. A warm worker is kept ready only while a job slot is free,
so it never competes for the cores with a job that trains. The run folder is the only channel:
the job writes events and status there, the page reads them. A crash, an out-of-memory kill or a
closed tab therefore costs at most one job, never the server or a run's saved history.

All children are started from the manager's own long-lived thread, because Linux's parent-death
signal (used so jobs stop when the server stops) is tied to the thread that forked the child.
With `CNNLAB_EXECUTOR=ray` the jobs run on a Ray cluster instead (cnnlab/runs/executors.py);
the queue, the fair order and the stop escalation stay here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from cnnlab import warm
from cnnlab.classroom.identity import Identity
from cnnlab.config import RunConfig
from cnnlab.runs import executors
from cnnlab.runs.access import RunOwner, check_manage
from cnnlab.runs.fair import EpochTimes, Projection, QueueEntry, next_index, projected_starts
from cnnlab.runs.procs import _is_job_process, _pid_alive
from cnnlab.runs.status import ACTIVE, FINISHED, Status
from cnnlab.runs.store import Run, create_run, get_run, list_runs, resolve_runs_dir

REPO_ROOT = warm.REPO_ROOT
default_max_parallel = warm.default_max_parallel  # also read by the prestart in app.py
JOB_NICENESS = warm.JOB_NICENESS  # read at each spawn (bench/bench_train.py varies it)
STOP_GRACE_S = 10.0  # after a stop request, SIGTERM a job whose training loop has not ended
KILL_GRACE_S = 20.0  # ... and SIGKILL it after this long
ENDING_KILL_S = 300.0  # a job saving and testing after its loop ended is killed only if it hangs
REPEAT_WINDOW_S = 5.0  # the same submit key again within this many seconds = a double press
BURST_S = 1.5  # a press in a burst (`submit_once`) this soon after the session's previous one:
# the same burst, whatever the form sent (a press landing mid-rerun can carry a half-updated form)


@dataclass
class _Job:
    run: Run
    process: subprocess.Popen | executors.JobHandle | None = None  # None: an earlier server's
    pid: int | None = None
    stop_requested: float | None = None  # monotonic time of the stop request
    signalled: set[str] = field(default_factory=set)
    owner: str = ""  # RunOwner.user_id


# A run's admission check (classroom: the lesson and the class limits): the config as it may run,
# given how many runs its owner has waiting; raises (PolicyError) to refuse.
Admit = Callable[[RunConfig, int], RunConfig]


class JobManager:
    """Queue of runs; at most `max_parallel` train at once; thread-safe; see module docstring."""

    # Every open manager, so a process that made several (a test session: one per runs folder)
    # can end their warm workers (~800 MB each) with `close_all`.
    _open: ClassVar[weakref.WeakSet[JobManager]] = weakref.WeakSet()

    def __init__(
        self,
        runs_dir: str | Path | None = None,
        max_parallel: int | None = None,
        *,
        warm: bool = True,
        poll_s: float = 0.1,
        executor: executors.Executor | None = None,
    ) -> None:
        """`executor`: where jobs run (None: `CNNLAB_EXECUTOR`, by default local processes)."""
        self.runs_dir = resolve_runs_dir(runs_dir)
        self.max_parallel = max(1, max_parallel or default_max_parallel())
        self.executor = executor or executors.from_env()
        self.warm_enabled = warm and self.executor is None  # a warm worker is a local process
        self.poll_s = poll_s
        self._lock = threading.Condition()
        self._queue: list[QueueEntry] = []  # in arrival order; the fair rule picks the next
        self._active: dict[str, _Job] = {}
        self._last_start: dict[str, float] = {}  # owner -> monotonic time their last run started
        self._estimate_s: dict[str, float | None] = {}  # queued run -> expected training seconds
        self._recent: dict[str, tuple[str, float]] = {}  # submit key -> (run id, monotonic s)
        self._pressed: dict[str, tuple[str, float]] = {}  # session -> (run id, last press s)
        self._times = EpochTimes()  # seconds per epoch seen here, for the estimates
        self._warm: subprocess.Popen | None = None
        self._closed = False
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="cnnlab-jobs", daemon=True)
        self._thread.start()
        JobManager._open.add(self)

    @classmethod
    def close_all(cls, *, stop_jobs: bool = True) -> None:
        """Close every open manager of this process (their jobs become resumable)."""
        for manager in list(cls._open):
            manager.close(stop_jobs=stop_jobs)
        warm.discard_all()

    # -- public API ------------------------------------------------------------------------------
    def submit(
        self, cfg: RunConfig, owner: RunOwner | None = None, admit: Admit | None = None
    ) -> str:
        """Create a run for `cfg` owned by `owner` (None: local), queue it, and return its id.
        `admit` (classroom rules) may refuse it or adjust it first, under the queue's lock."""
        owner = owner or RunOwner()
        with self._lock:
            if admit is not None:
                cfg = admit(cfg, sum(e.owner == owner.user_id for e in self._queue))
            run = create_run(cfg, self.runs_dir, owner)
            self._queue.append(QueueEntry(run.run_id, False, owner.user_id))
            self._estimate_s[run.run_id] = self._times.estimate(cfg)
            self._lock.notify_all()
        return run.run_id

    def submit_once(
        self, cfg: RunConfig, key: str, owner: RunOwner | None = None,
        admit: Admit | None = None, *, session: str = "", burst: bool = False,
    ) -> tuple[str, bool]:  # fmt: skip
        """`submit`, unless `key` (the caller's session and settings) was submitted less than
        REPEAT_WINDOW_S ago, or the press is in a `burst` (the caller says: its page had not
        finished since `session`'s previous press) less than BURST_S after it, whatever its
        settings: then (that run's id, True). Checked and recorded under the lock, because a
        burst of presses makes page reruns that interrupt each other mid-submit."""
        with self._lock:
            now = time.monotonic()
            self._recent = {k: v for k, v in self._recent.items() if now - v[1] < REPEAT_WINDOW_S}
            self._pressed = {k: v for k, v in self._pressed.items() if now - v[1] < BURST_S}
            if burst and session in self._pressed:  # the burst lasts while presses keep coming
                run_id = self._pressed[session][0]
                self._pressed[session] = (run_id, now)
                return run_id, True
            if key in self._recent:
                return self._recent[key][0], True
            run_id = self.submit(cfg, owner, admit)
            self._recent[key] = self._pressed[session] = (run_id, now)
        return run_id, False

    def stop(self, run_id: str, actor: Identity | None = None) -> None:
        """Stop a queued or running run; a running one ends within a batch, keeping its best
        weights. Only its owner or the teacher (AccessDenied); `actor=None` is trusted."""
        check_manage(actor, get_run(run_id, self.runs_dir).owner(), "stop", run_id)
        with self._lock:
            for i, entry in enumerate(self._queue):
                if entry.run_id == run_id:
                    del self._queue[i]
                    get_run(run_id, self.runs_dir).update_status(
                        Status.STOPPED, ended=time.time(), message="stopped before it started"
                    )
                    return
            job = self._active.get(run_id)
            if job is not None:
                job.run.request_stop()
                job.stop_requested = job.stop_requested or time.monotonic()
                self._lock.notify_all()

    def resume(self, run_id: str, actor: Identity | None = None) -> None:
        """Queue an interrupted/failed/stopped run again; it continues from its last checkpoint.
        Only its owner or the teacher (AccessDenied)."""
        run = get_run(run_id, self.runs_dir)
        owner = run.owner()
        check_manage(actor, owner, "resume", run_id)
        status = run.status().status
        if status in ACTIVE:
            raise ValueError(f"run {run_id} is already {status}")
        if not run.has_checkpoint():
            raise ValueError(
                f"run {run_id} has no checkpoint to resume from (it saves one per "
                "completed epoch): start a new run instead"
            )
        run.clear_stop()
        run.update_status(Status.QUEUED, message="queued to resume from its last checkpoint")
        with self._lock:
            self._queue.append(QueueEntry(run_id, True, owner.user_id))
            self._estimate_s[run_id] = self._times.estimate(run.config())
            self._lock.notify_all()

    def queue_position(self, run_id: str) -> int | None:
        """1-based place in the fair start order, or None when not queued."""
        projection = self.projection(run_id)
        return projection.position if projection else None

    def projection(self, run_id: str) -> Projection | None:
        """Where a queued run stands: its place in the fair order and expected start (seconds)."""
        return next((p for p in self.projections() if p.run_id == run_id), None)

    def projections(self) -> list[Projection]:
        """Every queued run in the order it will start, with expected start times."""
        with self._lock:
            active = [(job.owner, self._left_s(job)) for job in self._active.values()]
            return projected_starts(
                list(self._queue), active, self.max_parallel,
                lambda e: self._estimate_s.get(e.run_id), self._last_start,
            )  # fmt: skip

    def queued(self) -> list[str]:
        """Queued run ids in the order they will start."""
        return [p.run_id for p in self.projections()]

    def running(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def close(self, *, stop_jobs: bool = True) -> None:
        """Stop the manager thread (and the jobs, which become resumable "interrupted" runs)."""
        JobManager._open.discard(self)
        with self._lock:
            self._closed = True
            jobs = list(self._active.values())
            self._lock.notify_all()
        if stop_jobs:
            for job in jobs:
                self._signal(job, signal.SIGTERM)
        self._thread.join(timeout=5)
        if self._warm is not None:
            self._warm.kill()
            self._warm.wait(timeout=5)
        if stop_jobs:
            for job in jobs:
                if job.process is not None:
                    try:
                        job.process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        job.process.kill()

    # -- internals -------------------------------------------------------------------------------
    def _recover(self) -> None:
        """After a restart: dead "running" runs become interrupted; "queued" ones queue again."""
        for info in sorted(list_runs(self.runs_dir), key=lambda i: i.created):
            run = get_run(info.run_id, self.runs_dir)
            if info.status == Status.RUNNING:
                status = run.status()
                adopted = self.executor.adopt(run, status) if self.executor else None
                if adopted is not None:
                    self._active[info.run_id] = _Job(run, adopted, owner=info.owner.user_id)
                elif self.executor is None and _is_job_process(status.pid):
                    self._active[info.run_id] = _Job(
                        run, None, status.pid, owner=info.owner.user_id
                    )
                else:
                    run.update_status(
                        Status.INTERRUPTED,
                        ended=time.time(),
                        message="the server stopped during training; resume it "
                        "from its last checkpoint",
                    )
            elif info.status == Status.QUEUED:
                self._queue.append(
                    QueueEntry(info.run_id, run.has_checkpoint(), info.owner.user_id)
                )
            self._learn_speed(run)
        for entry in self._queue:
            try:
                self._estimate_s[entry.run_id] = self._times.estimate(
                    get_run(entry.run_id, self.runs_dir).config()
                )
            except ValueError:  # a damaged config: the job will fail and say so
                self._estimate_s[entry.run_id] = None

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._reap()
                self._escalate_stops()
                while self._queue and len(self._active) < self.max_parallel:
                    owners = [job.owner for job in self._active.values()]
                    entry = self._queue.pop(next_index(self._queue, owners, self._last_start))
                    self._start(entry)
                self._keep_warm()
                self._lock.wait(timeout=self.poll_s)

    def _keep_warm(self) -> None:
        """One warm worker waits while a job slot is free or a run is queued (a pre-started one
        is adopted first); none while every slot trains and nothing waits: its imports would
        slow the jobs for nothing (issue 13: a watched run at 89% of the CLI's speed)."""
        full = len(self._active) >= self.max_parallel
        if not self.warm_enabled or (full and not self._queue):
            return
        if self._warm is None or self._warm.poll() is not None:
            env = self._job_env()
            self._warm = warm.take(env) or warm.spawn_worker(env, JOB_NICENESS)

    def _job_env(self) -> dict[str, str]:
        return warm.job_env(self.runs_dir, self.max_parallel)

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "cnnlab", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._job_env(),
                cwd=str(REPO_ROOT),
                preexec_fn=lambda: warm.child_setup(JOB_NICENESS),
            )

    def _start(self, entry: QueueEntry) -> None:
        run_id, resume = entry.run_id, entry.resume
        self._last_start[entry.owner] = time.monotonic()
        self._estimate_s.pop(run_id, None)
        run = get_run(run_id, self.runs_dir)
        run.clear_stop()  # from here on a stop request is a Stop press
        run.update_status(Status.RUNNING, message="starting", pid=None, executor_job="")
        if self.executor is not None:
            try:
                handle = self.executor.start(run, resume)
            except Exception as exc:  # noqa: BLE001 - e.g. the cluster is unreachable
                run.update_status(Status.FAILED, ended=time.time(), message=f"{exc}; resume it")
                return
            self._active[run_id] = _Job(run, handle, handle.pid, owner=entry.owner)
            return
        process = None
        warm, self._warm = self._warm, None
        if warm is not None and warm.poll() is None and warm.stdin is not None:
            try:
                warm.stdin.write(f"{run.path}\t{int(resume)}\n".encode())
                warm.stdin.close()
                process = warm
            except OSError:
                warm.kill()
        if process is None:
            args = ["train", "--run-dir", str(run.path)] + (["--resume"] if resume else [])
            process = self._spawn(args, log=run.log_path)
        self._active[run_id] = _Job(run, process, process.pid, owner=entry.owner)

    def _reap(self) -> None:
        for run_id, job in list(self._active.items()):
            code = job.process.poll() if job.process is not None else None
            alive = code is None if job.process is not None else _pid_alive(job.pid)
            if alive:
                continue
            del self._active[run_id]
            self._learn_speed(job.run)
            if job.run.status().status in ACTIVE:  # it ended without recording an outcome
                status, message = executors.unexpected_end(job.process, code)
                job.run.update_status(status, ended=time.time(), message=message)

    def _escalate_stops(self) -> None:
        now = time.monotonic()
        for job in self._active.values():
            if job.stop_requested is None:
                continue
            waited = now - job.stop_requested
            if job.run.status().ending:  # the loop has ended: let it save and test
                if waited > ENDING_KILL_S and "kill" not in job.signalled:
                    self._signal(job, signal.SIGKILL)
                    job.signalled.add("kill")
                continue
            if waited > KILL_GRACE_S and "kill" not in job.signalled:
                self._signal(job, signal.SIGKILL)
                job.signalled.add("kill")
            elif waited > STOP_GRACE_S and "term" not in job.signalled:
                self._signal(job, signal.SIGTERM)
                job.signalled.add("term")

    def _learn_speed(self, run: Run) -> None:
        """Seconds per trained epoch of a run that has ended, for the estimates of runs like it."""
        status = run.status()
        if status.status in FINISHED and status.duration_s and status.epoch:
            try:
                self._times.learn(run.config(), status.duration_s / status.epoch)
            except ValueError:  # a damaged config teaches nothing
                pass

    def _left_s(self, job: _Job) -> float | None:
        status = job.run.status()
        if status.eta is not None:
            return status.eta
        try:
            total = self._times.estimate(job.run.config())
        except ValueError:
            return None
        return None if total is None else max(0.0, total - (status.duration_s or 0.0))

    @staticmethod
    def _signal(job: _Job, sig: int) -> None:
        try:
            if job.process is not None and job.pid is None:  # a job elsewhere (a Ray job)
                job.process.send_signal(sig)
            elif job.pid:
                os.kill(job.pid, sig)
        except ProcessLookupError:
            pass
