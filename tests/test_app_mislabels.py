"""AppTest of Evaluate's "Find mislabelled images": the background cross-training job, the
suspects gallery, relabel / drop into a new dataset version, retrain on it, compare."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab import cli
from cnnlab.mislabels import cache, job
from cnnlab.runs import get_run, latest_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "train", "--dataset", "digits", "--epochs", "2"]
    assert cli.main([*args, "--threads", "1", "--quiet"]) == cli.EXIT_OK
    monkeypatch.setenv("CNNLAB_RUNS", str(runs))
    monkeypatch.setenv("CNNLAB_MAX_JOBS", "1")
    run_id = latest_run("finished", runs)
    assert run_id
    return run_id


def open_evaluate() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame_with(at: AppTest, column: str):
    """The page's table that has `column`."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def wait_for_job(run_id: str, timeout_s: float = 120) -> job.JobState:
    run = get_run(run_id)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = job.read_job(run)
        if not state.running:
            return state
        time.sleep(0.5)
    raise AssertionError(f"the cross-training job did not end: {job.read_job(run)}")


def test_find_relabel_drop_retrain_and_compare(trained: str) -> None:
    at = open_evaluate()
    at.number_input(key="ml_folds").set_value(2)
    at.number_input(key="ml_epochs").set_value(1)
    at.button(key="ml_start").click().run()  # the job process starts; the page shows progress
    assert not at.exception, [e.value for e in at.exception]
    state = wait_for_job(trained)
    assert state.state == "done", state
    oos = cache.load(get_run(trained))
    assert oos is not None and (oos.folds, oos.epochs) == (2, 1)

    at.run()  # the finished search: the gallery of suspects
    choices = [s for s in at.selectbox if str(s.key).startswith(f"ml_{trained}_")]
    assert len(choices) == 12  # SHOWN_DEFAULT suspects, most suspect first
    first, second = choices[0], choices[1]
    relabel_to = first.options[2]  # after keep and drop: the held-out prediction
    at.selectbox(key=first.key).select_index(2)
    at.selectbox(key=second.key).select("drop").run()
    changes = frame_with(at, "change")
    assert sorted(changes["change"]) == ["dropped", "relabelled"]
    assert relabel_to.endswith(str(changes[changes["change"] == "relabelled"]["to"].iloc[0]))

    before = get_run(trained).config()
    next(b for b in at.button if b.label == "Retrain on this version").click().run()
    assert not at.exception, [e.value for e in at.exception]
    new_id = at.session_state.run_id
    assert new_id != trained
    patch = get_run(new_id).config().data.patch
    assert (len(patch.relabel), len(patch.drop), patch.base_run) == (1, 1, trained)
    assert get_run(trained).config() == before  # the original run (and its version) untouched
    assert get_run(new_id).config().train == before.train  # same recipe, new labels

    listed = frame_with(at, "test accuracy")
    assert list(listed["run"]) == [trained, new_id]
    at.button(key="ml_compare").click().run()
    assert at.session_state.runs_compare == [trained, new_id]
