"""The job manager on a real local Ray head (`ray start --head --num-cpus 2`, stopped afterwards):
a run submitted through it trains to the end as a Ray job, and a Stop through it ends the job.

Ray is an optional extra (`pip install .[ray]`); CI installs it in a step of its own and runs
this file alone (.ci/run)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray.job_submission", reason="Ray is an optional extra: pip install .[ray]")

from cnnlab.recipes import default_run_config  # noqa: E402
from cnnlab.runs import get_run  # noqa: E402
from cnnlab.runs.executors_ray import RayExecutor, resources  # noqa: E402
from cnnlab.runs.jobs import JobManager  # noqa: E402
from cnnlab.runs.status import ACTIVE, Status  # noqa: E402

RAY = str(Path(sys.executable).parent / "ray")
PORT = 8265


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    start = [RAY, "start", "--head", "--num-cpus", "2", "--dashboard-port", str(PORT)]
    subprocess.run(
        [*start, "--disable-usage-stats", "--include-dashboard", "true"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield f"http://127.0.0.1:{PORT}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def _digits(epochs: int):  # noqa: ANN202 - a RunConfig
    cfg = default_run_config("digits")
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs, threads=1))


def _wait(predicate, timeout: float = 180) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_runs_and_stops_through_the_job_manager_on_ray(ray_head: str, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    executor = RayExecutor(ray_head)
    manager = JobManager(runs, max_parallel=2, executor=executor)
    try:
        assert not manager.warm_enabled  # a warm worker is a local process
        done = manager.submit(_digits(2))
        long = manager.submit(_digits(500))
        _wait(lambda: get_run(done, runs).status().status not in ACTIVE)
        finished = get_run(done, runs).status()
        assert finished.status == Status.FINISHED, finished.message
        assert finished.executor_job.startswith(f"cnnlab-{done}")
        assert get_run(done, runs).metrics()["test_acc"] > 0.5
        _wait(lambda: done not in manager.running(), timeout=30)  # the job's process exits
        assert executor.client.get_job_status(finished.executor_job).value == "SUCCEEDED"

        _wait(lambda: get_run(long, runs).status().step > 0)
        manager.stop(long)
        _wait(lambda: get_run(long, runs).status().status not in ACTIVE, timeout=60)
        stopped = get_run(long, runs).status()
        assert stopped.status == Status.STOPPED, stopped.message
        _wait(lambda: long not in manager.running(), timeout=30)  # the Ray job has ended
        ended = executor.client.get_job_status(stopped.executor_job).value
        assert ended in ("SUCCEEDED", "STOPPED")
    finally:
        manager.close()


def test_resources_follow_the_config() -> None:
    cfg = _digits(1)
    assert resources(cfg) == (1.0, 0.0)
    gpu = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device="cuda", nproc=2))
    assert resources(gpu) == (2.0, 2.0)
