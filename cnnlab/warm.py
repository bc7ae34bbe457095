"""The warm job process, started before the server has imported torch (no torch here).

A training job is a child process; importing torch, scikit-learn and the training modules costs it
5-10 s of CPU on a 2-core machine, and the quick start's shapes set another 0.4 s. A *warm* worker
(`python -m cnnlab.runs.worker`) pays both ahead of time, then waits for one run folder on stdin.

`prestart()` launches one as the very first thing app.py does, so it imports in parallel with the
server's own first page (instead of after it); the job manager (cnnlab/runs/jobs.py, which imports
torch) adopts it with `take()` when it is created. Both sides compute the child's environment with
`job_env`, and a worker is adopted only when it was started for the same runs folder and threads.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, "-m", "cnnlab.runs.worker"]  # see cnnlab/runs/worker.py
JOB_NICENESS = 10  # training yields the CPU to the server, so pages answer while a job trains
NICENESS_ENV = "CNNLAB_JOB_NICENESS"  # a warm worker's niceness once it trains

_lock = threading.Lock()
_prestarted: dict[tuple[str, str], subprocess.Popen] = {}  # (runs dir, threads) -> waiting worker
_started_once = False
_registered = threading.Event()  # set once the pre-started worker (if any) is in _prestarted


def default_max_parallel() -> int:
    """`CNNLAB_MAX_JOBS` if set, else one training job per two cores (each job uses the cores it
    gets with intra-op threads: cores // max_parallel each)."""
    setting = os.environ.get("CNNLAB_MAX_JOBS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return max(1, (os.cpu_count() or 2) // 2)


def job_env(runs_dir: Path, max_parallel: int) -> dict[str, str]:
    """The environment of a job process: the repo importable, its share of the cores, the runs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("CNNLAB_THREADS", str(max(1, (os.cpu_count() or 1) // max_parallel)))
    env["CNNLAB_RUNS"] = str(runs_dir)
    return env


def child_setup(niceness: int = JOB_NICENESS) -> None:
    """preexec_fn: lower the job's priority; ask Linux to SIGTERM it when its forking thread ends."""
    try:
        os.nice(niceness)
    except OSError:
        pass
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: jobs then outlive the server and are picked up as "running"


def spawn_worker(env: dict[str, str], niceness: int = JOB_NICENESS) -> subprocess.Popen:
    """A warm worker with stdin open for its one "RUN_DIR<TAB>resume" line; output discarded
    until it has a run (then it writes the run's log).

    It prepares at normal priority (a niced import took 20-40 s on a busy machine, where the
    click was waiting for it) and lowers itself to `niceness` when it gets its run."""
    return subprocess.Popen(
        WORKER,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env | {NICENESS_ENV: str(niceness)},
        cwd=str(REPO_ROOT),
        preexec_fn=lambda: child_setup(0),
    )


def _key(env: dict[str, str]) -> tuple[str, str]:
    return env["CNNLAB_RUNS"], env["CNNLAB_THREADS"]


def prestart(runs_dir: Path) -> None:
    """Start one warm worker for `runs_dir` in the background, once per process."""
    global _started_once
    with _lock:
        if _started_once:
            return
        _started_once = True
    env = job_env(runs_dir, default_max_parallel())

    def hold() -> None:
        # The parent-death signal is tied to the forking thread: it lives as long as the process.
        process = spawn_worker(env)
        with _lock:
            _prestarted[_key(env)] = process
        _registered.set()
        threading.Event().wait()

    threading.Thread(target=hold, name="cnnlab-prestart", daemon=True).start()


def take(env: dict[str, str]) -> subprocess.Popen | None:
    """The pre-started worker made for this environment's runs folder and threads, if alive."""
    if _started_once:
        _registered.wait(timeout=5)  # Popen takes milliseconds; this only closes a race
    with _lock:
        process = _prestarted.pop(_key(env), None)
    return process if process is not None and process.poll() is None else None


def discard_all() -> None:
    """End pre-started workers nobody adopted (a test session changes runs folders)."""
    with _lock:
        processes = list(_prestarted.values())
        _prestarted.clear()
    for process in processes:
        process.kill()
        process.wait(timeout=5)
