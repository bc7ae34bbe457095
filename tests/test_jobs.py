"""Background jobs in real child processes: queue order, stop, crash, restart recovery, resume."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from cnnlab.config import DataConfig, RunConfig
from cnnlab.events import EpochEvent, StartEvent, kind_of
from cnnlab.recipes import default_run_config
from cnnlab.runs import create_run, get_run, jobs
from cnnlab.runs.jobs import JobManager, default_max_parallel


def _cfg(epochs: int = 1, **train: object) -> RunConfig:
    cfg = default_run_config("digits")
    return replace(
        cfg,
        data=DataConfig(name="digits"),
        train=replace(cfg.train, epochs=epochs, threads=1, **train),
    )


def _slow_cfg() -> RunConfig:
    # Many tiny batches so a run lasts long enough to be stopped/killed mid-epoch.
    return _cfg(epochs=30, batch_size=2)


def wait_for(check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for a job state")


def status(run_id: str) -> str:
    return get_run(run_id).status().status


@pytest.fixture
def manager() -> Iterator[JobManager]:
    jm = JobManager(max_parallel=1)
    yield jm
    jm.close()


def test_job_trains_saves_and_queue_keeps_order(manager: JobManager) -> None:
    first = manager.submit(_cfg(epochs=2))
    second = manager.submit(_cfg())
    third = manager.submit(_cfg())
    wait_for(lambda: status(first) == "running")
    assert manager.queue_position(second) == 1 and manager.queue_position(third) == 2
    manager.stop(third)  # a queued run can be cancelled
    assert status(third) == "stopped"
    wait_for(lambda: status(second) == "finished")
    run = get_run(first)
    assert status(first) == "finished"
    assert run.has_weights() and run.metrics()["test_acc"] > 0.5
    kinds = [kind_of(e) for e in run.read_events()[0]]
    assert kinds[0] == "start" and kinds.count("epoch") == 2 and kinds[-1] == "end"
    assert run.status().started <= get_run(second).status().started


def test_stop_running_job_quickly_keeps_weights(manager: JobManager) -> None:
    run_id = manager.submit(_slow_cfg())
    wait_for(lambda: len(get_run(run_id).read_events()[0]) > 3)
    asked = time.monotonic()
    manager.stop(run_id)
    wait_for(lambda: status(run_id) == "stopped", timeout=30)
    assert time.monotonic() - asked < 10  # within a batch (+ saving); generous for a busy CI box
    assert get_run(run_id).has_weights()


def test_killed_job_is_marked_failed_and_server_survives(manager: JobManager) -> None:
    run_id = manager.submit(_slow_cfg())
    wait_for(lambda: len(get_run(run_id).read_events()[0]) > 3)
    os.kill(get_run(run_id).status().pid, signal.SIGKILL)
    wait_for(lambda: status(run_id) == "failed", timeout=30)
    message = get_run(run_id).status().message
    assert "ended unexpectedly" in message and "signal 9" in message
    assert get_run(run_id).read_events()[0]  # metrics so far kept
    after = manager.submit(_cfg())  # the manager still works
    wait_for(lambda: status(after) == "finished")


def test_restart_marks_interrupted_and_resume_continues() -> None:
    first = JobManager(max_parallel=1)
    run_id = first.submit(_cfg(epochs=40, batch_size=8))
    wait_for(lambda: get_run(run_id).has_checkpoint())
    first.close()  # the server goes away: its job gets SIGTERM and records "interrupted"
    wait_for(lambda: status(run_id) == "interrupted", timeout=30)
    get_run(run_id).update_status("running")  # as if the job had died without a word
    second = JobManager(max_parallel=1)
    try:
        assert status(run_id) == "interrupted"
        done_before = get_run(run_id).load_checkpoint()["epoch"]
        second.resume(run_id)
        wait_for(
            lambda: getattr(get_run(run_id).read_events()[0][-1], "epoch", 0) > done_before + 1
        )
        second.stop(run_id)
        wait_for(lambda: status(run_id) == "stopped", timeout=30)
        events = get_run(run_id).read_events()[0]
        starts = [e for e in events if isinstance(e, StartEvent)]
        assert starts[-1].resumed_epoch == done_before
    finally:
        second.close()


@pytest.mark.parametrize(
    ("setting", "expected"), [("3", 3), ("1", 1), ("0", None), ("lots", None), ("", None)]
)
def test_max_jobs_setting_sets_how_many_runs_train_at_once(
    monkeypatch: pytest.MonkeyPatch, setting: str, expected: int | None
) -> None:
    """A teacher's server sets CNNLAB_MAX_JOBS; nonsense falls back to one job per two cores."""
    monkeypatch.setenv("CNNLAB_MAX_JOBS", setting)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert default_max_parallel() == (expected or 4)


def test_a_slow_stop_nudged_by_sigterm_still_ends_stopped(
    manager: JobManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a busy box a stop can outlast the grace period; the manager's SIGTERM then must not turn
    the user's Stop into "interrupted" (that status means the server went away)."""
    monkeypatch.setattr(jobs, "STOP_GRACE_S", 0.0)  # SIGTERM right after the stop request
    run_id = manager.submit(_slow_cfg())
    wait_for(lambda: len(get_run(run_id).read_events()[0]) > 3)
    manager.stop(run_id)
    wait_for(lambda: status(run_id) not in ("queued", "running"), timeout=60)
    assert status(run_id) == "stopped", get_run(run_id).status()
    assert get_run(run_id).has_weights()


def test_a_job_saving_after_its_loop_ended_is_not_signalled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the loop has ended ("ending" in status.json) the job saves and tests in peace: no
    SIGTERM/SIGKILL at the usual grace periods, only after ENDING_KILL_S (a hang)."""
    sent: list[int] = []
    monkeypatch.setattr(JobManager, "_signal", staticmethod(lambda job, sig: sent.append(sig)))
    manager = JobManager(max_parallel=1, warm=False)
    manager.close()  # its thread is gone: only this test calls _escalate_stops
    run = create_run(_cfg())
    job = jobs._Job(run, None, pid=None, stop_requested=time.monotonic() - jobs.KILL_GRACE_S - 1)
    run.update_status("running", ending=True)
    manager._active = {run.run_id: job}
    manager._escalate_stops()
    assert sent == []
    job.stop_requested = time.monotonic() - jobs.ENDING_KILL_S - 1
    manager._escalate_stops()
    assert sent == [signal.SIGKILL]
    run.update_status(ending=False)
    job.signalled.clear()
    job.stop_requested = time.monotonic() - jobs.STOP_GRACE_S - 1
    manager._escalate_stops()
    assert sent == [signal.SIGKILL, signal.SIGTERM]


def test_stop_pressed_while_the_job_loads_is_not_lost(
    manager: JobManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Stop press before the first batch (the job still loading data or building the model)
    stops the run at its first batch; no signal is needed to rescue it."""
    monkeypatch.setattr(jobs, "STOP_GRACE_S", 600.0)
    monkeypatch.setattr(jobs, "KILL_GRACE_S", 600.0)
    run_id = manager.submit(_slow_cfg())
    wait_for(lambda: status(run_id) == "running", timeout=30)
    manager.stop(run_id)  # at once: long before the first of 30 epochs of batches ends
    wait_for(lambda: status(run_id) not in ("queued", "running"), timeout=60)
    assert status(run_id) == "stopped", get_run(run_id).status()
    epochs = [e for e in get_run(run_id).read_events()[0] if isinstance(e, EpochEvent)]
    assert len(epochs) <= 1


def test_a_sessions_burst_of_presses_queues_one_run_whatever_the_form_sent(
    manager: JobManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A press that lands while the page reruns (`burst`) can carry a half-updated form (other
    settings): within BURST_S of that session's previous press it is the same burst, and the
    burst lasts while presses keep coming. A press after the page finished is a press of its
    own; another session is never held up."""
    cfg = _cfg(epochs=30)
    first, repeated = manager.submit_once(cfg, "s1:a", session="s1")
    assert not repeated
    other = replace(cfg, train=replace(cfg.train, seed=5))
    monkeypatch.setattr(jobs, "BURST_S", 1.0)
    for _ in range(6):  # 0.25 s apart: 1.5 s in all, longer than one window
        assert manager.submit_once(other, "s1:b", session="s1", burst=True) == (first, True)
        time.sleep(0.25)
    theirs, repeated = manager.submit_once(other, "s2:b", session="s2", burst=True)
    assert not repeated and theirs != first
    seen, repeated = manager.submit_once(_cfg(epochs=31), "s1:c", session="s1")
    assert not repeated and seen not in (first, theirs)  # quick, but after the page finished
    time.sleep(1.2)  # the burst is over: other settings are a new run
    later, repeated = manager.submit_once(other, "s1:b", session="s1", burst=True)
    assert not repeated and later not in (first, theirs, seen)
    for run_id in (first, theirs, seen, later):
        manager.stop(run_id)


def test_a_burst_of_the_same_submit_queues_one_run(
    manager: JobManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten threads pressing Train at once for one session and one config: one run, every press
    told its id; other settings or another session are new runs, and so is a press after the
    window (a second run wanted on purpose)."""
    from concurrent.futures import ThreadPoolExecutor

    cfg, before = _cfg(epochs=30), {r.run_id for r in jobs.list_runs(manager.runs_dir)}
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: manager.submit_once(cfg, "s1:a"), range(10)))
    ids = {run_id for run_id, _ in results}
    assert len(ids) == 1 and sorted(r for _, r in results) == [False] + [True] * 9
    other = manager.submit_once(replace(cfg, train=replace(cfg.train, seed=5)), "s1:b")
    assert other[1] is False and other[0] not in ids
    assert manager.submit_once(cfg, "s2:a")[1] is False  # another session's press
    monkeypatch.setattr(jobs, "REPEAT_WINDOW_S", 0.2)
    time.sleep(0.3)
    again, repeated = manager.submit_once(cfg, "s1:a")
    assert not repeated and again not in ids
    made = {r.run_id for r in jobs.list_runs(manager.runs_dir)} - before
    assert len(made) == 4
    for run_id in made:
        manager.stop(run_id)
