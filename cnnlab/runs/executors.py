"""Where the job manager's runs execute: child processes of the server (the default) or a cluster.

The job manager (`jobs.JobManager`) owns the queue, the fair order and the stop/kill escalation;
an executor only starts a run folder's job and hands back a handle shaped like the part of
`subprocess.Popen` the manager uses (`pid`, `poll`, `send_signal`, `kill`, `wait`). The run
folder stays the only channel (status, events, the STOP file), so the live view and Stop work the
same wherever the job runs, as long as the app and the job see the same runs folder.

`CNNLAB_EXECUTOR` chooses: `local` (or unset) = child processes here, kept in jobs.py with the
warm worker; `ray` = `executors_ray.RayExecutor` at `RAY_ADDRESS` (the optional extra
`pip install .[ray]`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from typing import Any, Protocol

from cnnlab.runs.status import RunStatus, Status
from cnnlab.runs.store import Run


class JobHandle(Protocol):
    """One started job, as the job manager polls and signals it."""

    pid: int | None  # a local process id, None for a job elsewhere

    def poll(self) -> int | None:
        """None while it runs; then an exit code (negative: the signal that ended it)."""

    def send_signal(self, sig: int) -> None:
        """SIGTERM: end cleanly (the run records "stopped"/"interrupted"); SIGKILL: end now."""

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Executor(Protocol):
    """Starts run folders' jobs somewhere other than this machine's child processes."""

    name: str

    def start(self, run: Run, resume: bool) -> JobHandle:
        """Start `python -m cnnlab train --run-dir RUN [--resume]` with the resources the run's
        config asks for; records where it runs in the run's status (`executor_job`)."""

    def adopt(self, run: Run, status: RunStatus) -> JobHandle | None:
        """After a server restart: the handle of a run's job that still runs, else None."""


def from_env(env: Mapping[str, str] | None = None) -> Executor | None:
    """The executor `CNNLAB_EXECUTOR` names; None = local child processes (the default)."""
    env = os.environ if env is None else env
    name = env.get("CNNLAB_EXECUTOR", "").strip().lower() or "local"
    if name == "local":
        return None
    if name == "ray":
        from cnnlab.runs.executors_ray import RayExecutor

        return RayExecutor(env.get("RAY_ADDRESS") or None)
    raise ValueError(f"CNNLAB_EXECUTOR={name!r} is not an executor: choose local or ray")


def unexpected_end(process: Any, code: int | None) -> tuple[Status, str]:
    """The outcome of a job that ended without recording one in its run folder: a local
    process was killed (SIGKILL, out of memory) or crashed; a cluster job says what it knows."""
    if hasattr(process, "unexpected_end"):
        return process.unexpected_end()
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    hint = " — perhaps out of memory" if code == -signal.SIGKILL else ""
    return (
        Status.FAILED,
        f"the training process ended unexpectedly ({how}{hint}); the metrics so far are kept, "
        "and it can be resumed from its last checkpoint",
    )
