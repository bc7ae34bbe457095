"""AppTest of the Train and Runs pages: real background jobs on digits (seconds per run).

Each test has its own runs folder (conftest) and therefore its own cached JobManager; the
`jobs` fixture closes that manager afterwards so no warm worker outlives the test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab import cli
from cnnlab.config import DataConfig, RunConfig, default_runs_dir
from cnnlab.events import EpochEvent, StartEvent
from cnnlab.runs import ACTIVE, RunInfo, Status, create_run, get_run, list_runs
from cnnlab.text import md_escape

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT_S = 180  # a digits run takes ~15 s alone; a loaded shared 2-core box needs more


@pytest.fixture
def jobs() -> Iterator[None]:
    yield
    from pages.ui.common import _job_manager

    _job_manager(str(default_runs_dir())).close()
    _job_manager.clear()


def open_page(page: str, data: str = "digits") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state.data_cfg = DataConfig(name=data)
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def widget(elements: object, label: str) -> object:
    [found] = [e for e in elements if e.label == label]  # type: ignore[attr-defined]
    return found


def submit(at: AppTest, **values: object) -> str:
    """Fill the Train form (by label) and press Train; returns the new run id."""
    labels = {
        "epochs": "Epochs",
        "lr": "Learning rate",
        "optimizer": "Optimizer",
        "schedule": "Schedule",
    }
    for name, value in values.items():
        kind = at.selectbox if name in ("optimizer", "schedule") else at.number_input
        widget(kind, labels[name]).set_value(value)
    at.button(key="train_submit").click()
    at.run()
    assert not at.exception, at.exception
    return at.session_state.run_id


def wait_until_ended(run_id: str) -> RunInfo:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        info = {r.run_id: r for r in list_runs()}[run_id]
        if info.status not in ACTIVE:
            return info
        time.sleep(0.5)
    pytest.fail(f"run {run_id} still {info.status} after {TIMEOUT_S} s: {get_run(run_id).status()}")


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def test_pages_render_with_no_runs() -> None:
    at = open_page("train")
    assert at.title[0].value == "Train"
    assert at.button(key="train_submit").label == "Train"
    assert {n.label for n in at.number_input} >= {
        "Learning rate",
        "Epochs",
        "Weight decay",
        "Seed",
        "Early stopping",
    }
    assert {s.label for s in at.selectbox} >= {"Optimizer", "Schedule", "Batch size"}
    assert widget(at.selectbox, "Optimizer").value == "adamw"  # the digits recipe
    assert widget(at.number_input, "Epochs").value == 10
    assert "1,294 train" in texts(at.caption)  # split sizes of what will be trained
    assert "No runs yet" in texts(at.info)
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception
    assert at.title[0].value == "Runs" and "No runs yet" in texts(at.info)


def test_train_digits_to_the_end_then_list_and_delete(jobs: None) -> None:
    at = open_page("train")
    run_id = submit(at, epochs=1)
    assert get_run(run_id).config().data.name == "digits"
    assert get_run(run_id).config().train.epochs == 1
    info = wait_until_ended(run_id)
    assert info.status == "finished", info.message
    at.run()
    assert not at.exception
    assert "Finished" in texts(at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"].endswith("%") and metrics["Best val accuracy"].endswith("%")
    charts = {c.key for c in at.get("plotly_chart")}  # + the snapshot panel's own charts
    assert {"live_batch_loss", "live_epoch_curves"} <= charts
    assert {p.value for p in at.get("page_link")} >= {"Evaluate it", "Look inside"}

    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["run"].tolist() == [run_id] and "finished" in table["status"][0]
    assert at.multiselect(key="runs_compare").value == [run_id]  # compared by default
    assert len(at.dataframe) == 2  # runs table + final-metrics table
    at.button(key="runs_delete_confirm").click()
    at.run()
    assert not at.exception
    assert list_runs() == [] and "No runs yet" in texts(at.info)


def test_queue_then_diverge_shows_the_message(jobs: None) -> None:
    at = open_page("train")
    first = submit(at, epochs=1)
    second = submit(at, epochs=1, optimizer="sgd", lr=1e6)
    # the second run waits for the first (2 cores: one job at a time)
    assert get_run(second).status().status == "queued"
    at.run()
    if get_run(second).status().status == "queued":
        assert "1st in the queue, start" in texts(at.info)  # with its expected start
        assert "; 1 run training" in texts(at.info)
    assert wait_until_ended(first).status == "finished"
    info = wait_until_ended(second)
    assert info.status == "diverged"
    at.run()
    assert not at.exception
    message = texts(at.error)
    assert "Diverged" in message and "Lower the learning rate" in message
    assert md_escape(get_run(second).status().message) in message


def test_delete_is_refused_for_an_active_run() -> None:
    run = create_run(RunConfig(data=DataConfig(name="digits")))  # queued, never started
    at = open_page("runs")
    assert at.selectbox(key="runs_pick").value == run.run_id
    at.button(key="runs_delete_confirm").click()
    at.run()
    assert not at.exception
    assert "stop it before deleting" in texts(at.error)
    assert [r.run_id for r in list_runs()] == [run.run_id]


def test_resume_an_interrupted_run_and_open_it_in_train(jobs: None) -> None:
    assert cli.main(["train", "--dataset", "digits", "--epochs", "1", "--quiet"]) == cli.EXIT_OK
    [info] = list_runs()
    run = get_run(info.run_id)
    assert run.has_checkpoint()
    run.update_status("interrupted", message="the server stopped during training")
    at = open_page("runs")
    assert "interrupted" in at.dataframe[0].value["status"].tolist()
    assert at.get("download_button")  # weights + config as a zip
    at.button(key="runs_resume").click()
    at.run()
    assert not at.exception
    assert at.session_state.run_id == info.run_id
    assert wait_until_ended(info.run_id).status == "finished"  # from its checkpoint
    at.run()
    at.button(key="runs_open_train").click()
    at.run()
    assert not at.exception
    assert at.title[0].value == "Train" and at.selectbox(key="train_watch").value == info.run_id
    assert "Finished" in texts(at.success)


def resumed_then_killed(cfg: RunConfig) -> str:
    """A run's events after restart -> resume -> kill: epochs 1-4, then epochs 3-5 again."""
    run = create_run(cfg)
    first = [StartEvent(epochs=6), *(EpochEvent(epoch=e, val_acc=0.1 * e) for e in range(1, 5))]
    again = [StartEvent(epochs=6, resumed_epoch=2)]
    again += [EpochEvent(epoch=e, val_acc=0.15 * e, best=True) for e in range(3, 6)]
    run.append_events(first)  # ... killed here (no end event), resumed from epoch 2's checkpoint
    run.append_events(again)
    run.write_metrics({"epochs_done": 3})  # a pass-local count, as the engine once reported
    run.update_status(Status.INTERRUPTED, best_val_acc=0.75, started=1.0, ended=2.0)
    return run.run_id


def test_a_resumed_runs_epochs_agree_on_the_runs_page() -> None:
    # Issue 20 item 4: the table said "epochs done 4" while the curve showed more epochs.
    run_id = resumed_then_killed(RunConfig(data=DataConfig(name="digits")))
    at = open_page("runs")
    assert at.multiselect(key="runs_compare").value == [run_id]
    compare = at.dataframe[1].value
    assert compare["epochs done"].tolist() == [5] and compare["best epoch"].tolist() == [5]
    [chart] = [c for c in at.get("plotly_chart") if "epoch" in c.proto.spec]
    [trace] = json.loads(chart.proto.spec)["data"]
    assert trace["x"] == [1, 2, 3, 4, 5]
    assert trace["y"] == pytest.approx([0.1, 0.2, 0.45, 0.6, 0.75])  # the latest pass


def test_the_form_keeps_what_was_typed_and_trains_exactly_that(jobs: None) -> None:
    """Issue 20.1 under AppTest: each run's config holds what the form showed, every time."""
    at = open_page("train")
    typed = [
        {"epochs": 2, "lr": 0.01, "optimizer": "sgd"},
        {"epochs": 3},
        {"lr": 0.002, "schedule": "constant"},
    ]
    shown: dict[str, object] = {}
    for values in typed:
        shown.update(values)
        run_id = submit(at, **values)
        cfg = get_run(run_id).config()
        on_run = {"epochs": cfg.train.epochs, "lr": cfg.train.lr}
        on_run |= {"optimizer": cfg.train.optimizer, "schedule": cfg.train.schedule}
        assert {k: on_run[k] for k in shown} == shown
        assert widget(at.number_input, "Epochs").value == shown["epochs"]  # not reset
        at.selectbox(key="train_watch").set_value(list_runs()[-1].run_id)  # watch another run
        at.run()
        assert widget(at.number_input, "Epochs").value == shown["epochs"]


def test_pressing_train_twice_fast_queues_one_run(jobs: None) -> None:
    at = open_page("train")
    run_id = submit(at, epochs=1)
    at.button(key="train_submit").click()
    at.run()
    assert not at.exception
    assert [r.run_id for r in list_runs()] == [run_id]
    assert "That press repeated the one before" in texts(at.warning)
    submit(at, epochs=2)  # other settings: a second run is wanted
    assert len(list_runs()) == 2


def test_a_full_disk_fails_the_submit_cleanly(jobs: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import cnnlab.runs.store as runs

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    at = open_page("train")
    monkeypatch.setattr(runs, "atomic_write_json", full)
    at.button(key="train_submit").click()
    at.run()
    assert not at.exception
    assert "the disk is full: free space or delete old runs" in texts(at.error)
    assert list(default_runs_dir().iterdir()) == []  # no half-made run folder
    monkeypatch.undo()
    with pytest.raises(OSError):  # create_run itself cleans up, for every caller
        monkeypatch.setattr(runs, "atomic_write_json", full)
        create_run(RunConfig())
    assert list(default_runs_dir().iterdir()) == []


def test_the_long_recipe_button_starts_the_form_and_model_from_it(real_data: Path) -> None:
    """Issue 18.4: CIFAR-10 offers its long recipe on the Train page; digits has none."""
    at = open_page("train", data="digits")
    assert not [b for b in at.button if b.key == "tr_long_recipe"]
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state.data_cfg = DataConfig(name="cifar10", root=str(real_data))
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, at.exception
    assert widget(at.number_input, "Epochs").value == 13  # the default recipe (AirNet w1.5)
    at.button(key="tr_long_recipe").click()
    at.run()
    assert not at.exception, at.exception
    assert widget(at.number_input, "Epochs").value == 15
    assert at.session_state.model_cfg.name == "airnet" and at.session_state.model_cfg.width == 4
    assert "the long recipe for this dataset" in texts(at.caption)
