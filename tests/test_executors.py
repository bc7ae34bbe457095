"""The job manager's executor seam without a cluster: CNNLAB_EXECUTOR, and a job that ends on
its executor without recording an outcome (a lost Ray worker) becoming a resumable run."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from cnnlab.recipes import default_run_config
from cnnlab.runs import executors, get_run
from cnnlab.runs.jobs import JobManager
from cnnlab.runs.status import ACTIVE, RESUMABLE, Status


class LostJob:
    """A job whose worker node is lost at once (the run folder never hears from it)."""

    pid = None

    def __init__(self) -> None:
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return 1

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int:
        return 1

    def unexpected_end(self) -> tuple[Status, str]:
        return Status.INTERRUPTED, "its worker node was lost"


class LosingExecutor:
    name = "fake"

    def __init__(self) -> None:
        self.started: list[tuple[str, bool]] = []

    def start(self, run, resume):  # noqa: ANN001, ANN201
        self.started.append((run.run_id, resume))
        return LostJob()

    def adopt(self, run, status):  # noqa: ANN001, ANN201
        return None


def test_executor_from_env() -> None:
    assert executors.from_env({}) is None
    assert executors.from_env({"CNNLAB_EXECUTOR": "local"}) is None
    with pytest.raises(ValueError, match="choose local or ray"):
        executors.from_env({"CNNLAB_EXECUTOR": "slurm"})


def test_local_unexpected_end_names_the_signal() -> None:
    status, message = executors.unexpected_end(object(), -signal.SIGKILL)
    assert status == Status.FAILED and "signal 9" in message and "out of memory" in message


def test_a_lost_worker_leaves_the_run_interrupted_and_resumable(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    executor = LosingExecutor()
    manager = JobManager(runs, max_parallel=1, executor=executor)
    try:
        assert not manager.warm_enabled
        run_id = manager.submit(default_run_config("digits"))
        deadline = time.monotonic() + 10
        while get_run(run_id, runs).status().status in ACTIVE:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = get_run(run_id, runs).status()
        assert status.status == Status.INTERRUPTED and status.status in RESUMABLE
        assert "worker node was lost" in status.message
        assert executor.started == [(run_id, False)]
    finally:
        manager.close()
