"""The live view-model (cnnlab.runs.live) from run folders with hand-written events and status files."""

from __future__ import annotations

import json
import math
import time

import pandas as pd
import pytest

from cnnlab.config import RunConfig
from cnnlab.events import parse_event
from cnnlab.runs import Run, RunNotFound, RunStatus, create_run
from cnnlab.runs.live import build_view, format_duration, fraction, read_live, thin


def _start(epochs: int = 2, steps_per_epoch: int = 5) -> dict:
    return {
        "type": "start",
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "total_steps": epochs * steps_per_epoch,
        "train_size": 500,
        "batch_size": 100,
        "device": "cpu",
        "threads": 2,
        "resumed_epoch": 0,
    }


def _batch(step: int, epoch: int = 1, loss: float = 1.0, eta: float = 8.0, **kw: object) -> dict:
    return {
        "type": "batch",
        "epoch": epoch,
        "step": step,
        "loss": loss,
        "acc": 0.5,
        "lr": 0.01,
        "images_per_s": 1000.0,
        "elapsed": step * 1.0,
        "eta": eta,
        **kw,
    }


def _epoch(epoch: int, val_acc: float, best: bool = True) -> dict:
    return {
        "type": "epoch",
        "epoch": epoch,
        "step": epoch * 5,
        "train_loss": 1.0 / epoch,
        "train_acc": 0.5,
        "val_loss": 0.9 / epoch,
        "val_acc": val_acc,
        "lr": 0.01,
        "elapsed": epoch * 5.0,
        "eta": 0.0,
        "best": best,
    }


def _write(run: Run, lines: list[dict | str], status: dict) -> None:
    text = "".join((line if isinstance(line, str) else json.dumps(line) + "\n") for line in lines)
    (run.path / "events.jsonl").write_text(text)
    run.update_status(**status)


def _typed(events: list[dict]) -> list:
    return [parse_event(e) for e in events]


@pytest.fixture
def run() -> Run:
    return create_run(RunConfig())


def test_queued_run_without_events(run: Run) -> None:
    view = read_live(run.run_id)
    assert view.status == "queued" and view.active
    assert view.progress == 0.0 and view.batches == [] and view.epochs == []
    assert view.eta_text == "" and view.epoch_text == "" and view.images_per_s is None
    assert view.batch_frame().empty and list(view.epoch_frame().columns)[0] == "epoch"


def test_empty_events_file(run: Run) -> None:
    _write(run, [], {"status": "running", "message": "loading the dataset"})
    view = read_live(run)
    assert view.status == "running" and view.message == "loading the dataset"
    assert view.progress == 0.0 and view.step == 0 and view.eta_s is None


def test_running_progress_eta_speed_lr(run: Run) -> None:
    _write(run, [_start(), *(_batch(s, eta=10.0 - s) for s in range(1, 5))], {"status": "running"})
    view = read_live(run)
    assert (view.step, view.total_steps, view.epoch, view.epochs_total) == (4, 10, 1, 2)
    assert view.progress == pytest.approx(0.4)
    assert view.epoch_text == "epoch 1/2"
    assert view.eta_s == pytest.approx(6.0) and view.eta_text == "about 6 s left"
    assert view.images_per_s == 1000.0 and view.lr == 0.01 and view.loss == 1.0
    assert view.elapsed_s == 4.0
    frame = view.batch_frame()
    assert isinstance(frame, pd.DataFrame) and frame["step"].tolist() == [1, 2, 3, 4]


def test_eta_counts_down_from_the_event_time(run: Run) -> None:
    _write(run, [_start(), _batch(1, eta=100.0, time=time.time() - 30)], {"status": "running"})
    assert read_live(run).eta_s == pytest.approx(70.0, abs=2)
    _write(run, [_start(), _batch(1, eta=100.0, time=time.time() - 500)], {"status": "running"})
    view = read_live(run)
    assert view.eta_s == 0.0 and view.eta_text == "finishing…"


def test_partial_trailing_line_waits(run: Run) -> None:
    partial = json.dumps(_batch(3))[:25]  # a line the job is still writing: no newline yet
    _write(run, [_start(), _batch(1), _batch(2), partial], {"status": "running"})
    view = read_live(run)
    assert [b.step for b in view.batches] == [1, 2]
    # the job finishes the line; an incremental read picks it up without re-reading the rest
    with open(run.path / "events.jsonl", "a") as f:
        f.write(json.dumps(_batch(3))[25:] + "\n")
    later = read_live(run, previous=view)
    assert [b.step for b in later.batches] == [1, 2, 3]
    assert later.offset == (run.path / "events.jsonl").stat().st_size


def test_damaged_line_is_skipped(run: Run) -> None:
    _write(run, [_start(), "{not json\n", _batch(1), "[1, 2]\n"], {"status": "running"})
    assert [b.step for b in read_live(run).batches] == [1]


def test_nan_and_inf_values_never_reach_the_widgets(run: Run) -> None:
    # json.dumps writes NaN/Infinity literals, which json.loads reads back as floats
    events = [
        _start(),
        _batch(
            1, loss=math.nan, eta=math.nan, images_per_s=math.inf, lr=math.nan, elapsed=math.nan
        ),
    ]
    _write(run, events, {"status": "running", "step": math.nan, "total_steps": math.inf})
    view = read_live(run)
    assert view.loss is None and view.eta_s is None and view.lr is None
    assert view.images_per_s is None and view.eta_text == ""
    assert 0.0 <= view.progress <= 1.0 and not math.isnan(view.progress)


@pytest.mark.parametrize(
    "done,total,expected",
    [
        (5, 10, 0.5),
        (11, 10, 1.0),
        (10.0000001, 10, 1.0),
        (-3, 10, 0.0),
        (3, 0, 0.0),
        (3, -1, 0.0),
        (math.nan, 10, 0.0),
        (3, math.nan, 0.0),
        (math.inf, 10, 0.0),
        (None, 10, 0.0),
        ("3", 10, 0.0),
    ],
)
def test_fraction_is_clamped(done: object, total: object, expected: float) -> None:
    assert fraction(done, total) == expected


def test_progress_never_exceeds_one(run: Run) -> None:
    # a step count beyond total_steps (e.g. a config edited between resumes) still clamps
    _write(run, [_start(epochs=1, steps_per_epoch=3), _batch(5)], {"status": "running"})
    assert read_live(run).progress == 1.0


def test_finished_run(run: Run) -> None:
    events = [
        _start(),
        *(_batch(s, epoch=1 + (s > 5)) for s in range(1, 11)),
        _epoch(1, 0.6),
        _epoch(2, 0.8),
        {
            "type": "end",
            "status": "finished",
            "message": "",
            "best_epoch": 2,
            "best_val_acc": 0.8,
            "elapsed": 11.0,
        },
    ]
    _write(run, events, {"status": "finished", "best_val_acc": 0.8, "message": ""})
    run.write_metrics({"test_acc": 0.75})
    view = read_live(run)
    assert not view.active and view.progress == 1.0 and view.eta_text == ""
    assert view.test_acc == 0.75 and view.best_val_acc == 0.8
    assert view.elapsed_s == 11.0 and view.end.status == "finished"
    assert view.epoch_frame()["val_acc"].tolist() == [0.6, 0.8]


def test_diverged_run_keeps_message_and_partial_progress(run: Run) -> None:
    message = "the loss became nan at epoch 1, step 3 (learning rate 1e+06). Lower the rate."
    events = [
        _start(),
        _batch(1, loss=2.3),
        _batch(2, loss=1e30),
        {
            "type": "end",
            "status": "diverged",
            "message": message,
            "best_epoch": 0,
            "best_val_acc": None,
            "elapsed": 2.5,
        },
    ]
    _write(run, events, {"status": "diverged", "message": message})
    view = read_live(run)
    assert view.status == "diverged" and not view.active
    assert view.message == message and view.progress == pytest.approx(0.2)
    assert view.best_val_acc is None and view.eta_s is None


def test_resumed_run_keeps_the_latest_pass(run: Run) -> None:
    first = [_start(), *(_batch(s) for s in range(1, 8)), _epoch(1, 0.5)]
    second = [_start(), *(_batch(s, epoch=2) for s in range(6, 9))]  # resumed from epoch 1
    _write(run, first + second, {"status": "running"})
    view = read_live(run)
    steps = [b.step for b in view.batches]
    assert steps == [1, 2, 3, 4, 5, 6, 7, 8] and view.batches[-1].epoch == 2
    assert view.end is None and view.step == 8


def test_missing_status_file_reads_as_failed(run: Run) -> None:
    (run.path / "status.json").unlink()
    view = read_live(run)
    assert view.status == "failed" and "missing" in view.message


def test_unknown_run_id() -> None:
    with pytest.raises(RunNotFound):
        read_live("no-such-run")
    with pytest.raises(RunNotFound):
        read_live("../etc")


def test_build_view_is_pure() -> None:
    status = RunStatus.from_dict({"status": "stopped", "message": "stopped by request"})
    view = build_view("x", status, _typed([_start(), _batch(3)]))
    assert view.status == "stopped" and view.progress == pytest.approx(0.3)
    assert view.test_acc is None and view.eta_s is None


@pytest.mark.parametrize(
    "seconds,text",
    [
        (None, ""),
        (math.nan, ""),
        (0.4, "0 s"),
        (42, "42 s"),
        (185, "3 min 05 s"),
        (3720, "1 h 02 min"),
    ],
)
def test_format_duration(seconds: object, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("n,limit", [(0, 5), (3, 5), (5, 5), (6, 5), (1000, 7), (6001, 500)])
def test_thin_keeps_the_last_item_and_the_limit(n: int, limit: int) -> None:
    items = list(range(n))
    kept = thin(items, limit)
    assert len(kept) <= limit and kept == sorted(kept)
    if items:
        assert kept[-1] == items[-1]
        gaps = {b - a for a, b in zip(kept, kept[1:], strict=False)}
        assert len(gaps) <= 1  # evenly spaced


def test_chart_batches_thins_a_long_run() -> None:
    events = [_start(epochs=100, steps_per_epoch=100)] + [_batch(s) for s in range(1, 5001)]
    view = build_view("x", RunStatus.from_dict({"status": "running"}), _typed(events))
    chart = view.chart_batches(400)
    assert len(chart) <= 400 and chart[-1].step == 5000 and len(view.batches) == 5000


def test_run_title_is_plain_text_that_does_not_change_while_training() -> None:
    from cnnlab.runs import RunInfo, run_title

    info = RunInfo(
        "r1", "queued", 0.0, "digits", "classic", "sgd", 0.1, 3, 64, None, None, None, ""
    )
    title = run_title(info)
    assert title.endswith(" · digits · classic · sgd lr 0.1 · 3 epochs")
    assert all(ord(c) < 0x2000 for c in title)  # no emoji: readable without an emoji font
    later = RunInfo(
        **{
            **info.__dict__,
            "status": "finished",
            "best_val_acc": 0.9,
            "dataset": "Digits (scikit-learn, 8x8 greyscale)",
        }
    )
    assert run_title(later) == title


def test_live_view_carries_stop_resume_error_and_weights_version(run: Run) -> None:
    _write(run, [_start(), _batch(1)], {"status": "running"})
    assert not read_live(run).stop_requested
    run.request_stop()
    assert read_live(run).stop_requested
    run.update_status("failed", message="boom")
    run.write_error("Traceback ...\nRuntimeError: boom")
    view = read_live(run)
    assert view.error_text.endswith("boom") and not view.stop_requested
    assert not view.can_resume and view.weights_version == 0.0  # no checkpoint, no weights
    run.save_checkpoint({"epoch": 1})
    run.save_weights({"w": __import__("torch").ones(1)})
    view = read_live(run)
    assert view.can_resume and view.weights_version > 0


def test_live_tail_reads_only_new_bytes_and_restarts_when_the_file_is_rewritten(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnnlab.runs.live import LiveTail

    _write(run, [_start(), _batch(1), _batch(2)], {"status": "running"})
    tail = LiveTail(run.run_id)
    first = tail.read()
    assert [b.step for b in first.batches] == [1, 2]
    offsets = []
    real = Run.read_events
    monkeypatch.setattr(Run, "read_events", lambda r, o=0: offsets.append(o) or real(r, o))
    with open(run.path / "events.jsonl", "a") as f:
        f.write(json.dumps(_batch(3)) + "\n")
    assert [b.step for b in tail.read().batches] == [1, 2, 3]
    assert offsets == [first.offset]  # read from where the last read ended, not from 0
    assert tail.read(max_age_s=60) is tail.read(max_age_s=60)  # shared: no re-read within 60 s
    _write(run, [_start(), _batch(1)], {"status": "running"})  # a fresh start clears the file
    assert [b.step for b in tail.read().batches] == [1]
