"""Runs on a Ray cluster through the Ray Jobs API (`CNNLAB_EXECUTOR=ray`, `RAY_ADDRESS`).

Why Jobs and not tasks: a run already is one command (`python -m cnnlab train --run-dir RUN`),
so a Ray job runs exactly what a local job runs, in its own process (a crash or an out-of-memory
kill costs that run only), with the CPUs and GPUs it asks for (`entrypoint_num_cpus/gpus`), and
Ray's `stop_job` is the Stop escalation (SIGTERM, then SIGKILL). Tasks would pickle cnnlab's
objects into Ray's long-lived worker processes, share their memory between runs, and cancel
only by force. The cluster needs the dashboard (`ray[default]`; the Jobs API is served on port
8265 of the head) and, on every node, the same cnnlab install (`CNNLAB_RAY_PYTHON`, default this
Python) and the same runs folder path: shared storage (NFS or similar, with atomic renames and
close-to-open consistency) mounted where `CNNLAB_RUNS` says, since the job writes the run folder
that the app reads. `CNNLAB_DATA`/`CNNLAB_CACHE`, if set, are passed on (the data must be there
too). A node lost mid-run ends its Ray job as FAILED without a recorded outcome: the run becomes
"interrupted", resumable from its last checkpoint.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from cnnlab.config import RunConfig
from cnnlab.runs.status import RunStatus, Status
from cnnlab.runs.store import Run

DEFAULT_ADDRESS = "http://127.0.0.1:8265"  # a local head's Jobs API
POLL_S = 1.0  # the job manager polls every 0.1 s; ask the cluster at most this often
PASSED_ENV = ("CNNLAB_DATA", "CNNLAB_CACHE", "CNNLAB_DIST_TIMEOUT_S")
REPO_ROOT = Path(__file__).resolve().parents[2]


def resources(cfg: RunConfig) -> tuple[float, float]:
    """(CPUs, GPUs) a run asks the cluster for: per process, `train.threads` CPUs (0: env
    CNNLAB_RAY_CPUS, default 1) and, for `train.device` cuda (or auto with CNNLAB_RAY_GPUS set),
    one GPU; times `train.nproc`."""
    tc = cfg.train
    cpus = tc.threads or float(os.environ.get("CNNLAB_RAY_CPUS") or 1)
    gpus = 1.0 if tc.device.startswith("cuda") else 0.0
    if tc.device == "auto":
        gpus = float(os.environ.get("CNNLAB_RAY_GPUS") or 0)
    return cpus * tc.nproc, gpus * tc.nproc


class RayJob:
    """A submitted run, shaped like the part of `subprocess.Popen` the job manager uses."""

    pid = None  # not a process of this machine

    def __init__(self, client: object, job_id: str) -> None:
        self.client, self.job_id = client, job_id
        self.code: int | None = None
        self.checked = -POLL_S

    def poll(self) -> int | None:
        from ray.job_submission import JobStatus

        if self.code is not None or time.monotonic() - self.checked < POLL_S:
            return self.code
        self.checked = time.monotonic()
        try:
            status = self.client.get_job_status(self.job_id)
        except Exception:  # noqa: BLE001 - the head unreachable for a moment: still running
            return None
        codes = {JobStatus.SUCCEEDED: 0, JobStatus.FAILED: 1, JobStatus.STOPPED: -15}
        self.code = codes.get(status)
        return self.code

    def send_signal(self, sig: int) -> None:
        """Any signal stops the Ray job (Ray sends SIGTERM, then SIGKILL after a few seconds)."""
        try:
            self.client.stop_job(self.job_id)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def kill(self) -> None:
        self.send_signal(9)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Ray job {self.job_id} still running after {timeout} s")
            time.sleep(0.2)
        return code

    def unexpected_end(self) -> tuple[Status, str]:
        """The job ended and the run recorded nothing: its node or driver was lost."""
        try:
            why = self.client.get_job_info(self.job_id).message or "no reason given"
        except Exception as exc:  # noqa: BLE001
            why = f"the cluster could not say why ({exc})"
        return (
            Status.INTERRUPTED,
            f"the Ray job {self.job_id} ended before the run recorded an outcome ({why}), e.g. "
            "its worker node was lost; resume it from its last checkpoint",
        )


class RayExecutor:
    """Hands each run to a Ray cluster as one Ray job (see the module docstring)."""

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError as exc:
            raise RuntimeError(
                "CNNLAB_EXECUTOR=ray needs Ray: pip install '.[ray]' (or unset CNNLAB_EXECUTOR "
                "to train in local processes)"
            ) from exc
        self.address = address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS
        self.client = JobSubmissionClient(self.address)

    def start(self, run: Run, resume: bool) -> RayJob:
        cfg = run.config()
        cpus, gpus = resources(cfg)
        python = os.environ.get("CNNLAB_RAY_PYTHON") or sys.executable
        command = [python, "-m", "cnnlab", "train", "--run-dir", str(run.path)]
        command += ["--resume"] if resume else []
        log = shlex.quote(str(run.log_path))
        env = {
            "CNNLAB_RUNS": str(run.path.parent),
            "PYTHONPATH": str(REPO_ROOT),
            "CNNLAB_THREADS": str(max(1, int(cpus // cfg.train.nproc))),
            "OMP_WAIT_POLICY": "PASSIVE",
            **{k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)},
        }
        job_id = self.client.submit_job(
            entrypoint=f"{shlex.join(command)} >> {log} 2>&1",
            submission_id=f"cnnlab-{run.run_id}-{time.time_ns() % 10**9}",  # a resume: a new job
            runtime_env={"env_vars": env},
            entrypoint_num_cpus=cpus,
            entrypoint_num_gpus=gpus,
            metadata={"run_id": run.run_id},
        )
        run.update_status(executor_job=job_id, message=f"queued on the Ray cluster ({job_id})")
        return RayJob(self.client, job_id)

    def adopt(self, run: Run, status: RunStatus) -> RayJob | None:
        if not status.executor_job:
            return None
        job = RayJob(self.client, status.executor_job)
        return job if job.poll() is None else None
