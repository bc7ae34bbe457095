"""The training engine on small in-memory data: learning, determinism, stop, divergence, resume."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from cnnlab.config import AugmentConfig, RunConfig, TrainConfig
from cnnlab.events import BatchEvent, EndEvent, EpochEvent, StartEvent, kind_of
from cnnlab.optim import OPTIMIZERS, SCHEDULES
from cnnlab.training import train


def _split(n: int, seed: int) -> SimpleNamespace:
    """Two learnable classes of 1x8x8 uint8 images: bright left half vs bright right half."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randint(0, 60, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    x[y == 0, :, :, :4] += 150
    x[y == 1, :, :, 4:] += 150
    return SimpleNamespace(x=x, y=y)


def _dataset(n: int = 256) -> SimpleNamespace:
    return SimpleNamespace(
        train=_split(n, 0), val=_split(64, 1), test=_split(64, 2), hflip_ok=False
    )


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.1),
        nn.Flatten(),
        nn.Linear(4 * 16, 2),
    )


def _cfg(**train: object) -> RunConfig:
    base = TrainConfig(
        optimizer="adamw", lr=1e-2, epochs=3, batch_size=32, threads=1, batch_events_per_s=0
    )
    return RunConfig(train=replace(base, **train))


def test_learns_and_reports_events() -> None:
    events: list = []
    result = train(_cfg(), _dataset(), _model(), emit=events.append)
    kinds = [kind_of(e) for e in events]
    assert isinstance(events[0], StartEvent) and isinstance(events[-1], EndEvent)
    assert kinds.count("epoch") == 3
    assert kinds.count("batch") == 3 * math.ceil(256 / 32)  # one per batch when unthrottled
    assert result.status == "finished" and result.best_val_acc > 0.9
    batch = next(e for e in events if isinstance(e, BatchEvent))
    assert None not in (batch.loss, batch.acc, batch.lr, batch.images_per_s, batch.eta)
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert epochs[-1].eta == pytest.approx(0.0)
    assert result.history == epochs  # the history is the epoch events


def test_same_seed_same_result() -> None:
    cfg = _cfg(seed=3)
    cfg = replace(cfg, augment=AugmentConfig(translate=0.1))
    a = train(cfg, _dataset(), _model(), emit=lambda e: None).best_state
    b = train(cfg, _dataset(), _model(), emit=lambda e: None).best_state
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stop_ends_within_one_batch_and_keeps_weights() -> None:
    steps = []

    def should_stop() -> bool:
        return len(steps) >= 3

    def emit(event: object) -> None:
        if isinstance(event, BatchEvent):
            steps.append(event.step)

    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(_cfg(), _dataset(), model, emit=emit, should_stop=should_stop)
    assert result.status == "stopped"
    assert len(steps) == 3  # no batch ran after the request
    assert any(not torch.equal(before[k], result.best_state[k]) for k in before)


def test_divergence_keeps_last_good_weights() -> None:
    events: list = []
    result = train(
        _cfg(optimizer="sgd", lr=1e6, schedule="constant"), _dataset(), _model(), emit=events.append
    )
    assert result.status == "diverged"
    assert "learning rate" in result.message
    assert all(torch.isfinite(v).all() for v in result.best_state.values())
    assert isinstance(events[-1], EndEvent) and events[-1].status == "diverged"


def test_batch_larger_than_dataset_and_zero_epochs() -> None:
    result = train(_cfg(batch_size=10_000, epochs=1), _dataset(40), _model(), emit=lambda e: None)
    assert result.status == "finished" and result.epochs_done == 1
    result = train(_cfg(epochs=0), _dataset(40), _model(), emit=lambda e: None)
    assert result.status == "finished" and result.epochs_done == 0


@pytest.mark.parametrize("optimizer", OPTIMIZERS.names())
@pytest.mark.parametrize("schedule", SCHEDULES.names())
def test_every_optimizer_and_schedule_trains(optimizer: str, schedule: str) -> None:
    lr = 0.05 if optimizer == "sgd" else 5e-3
    result = train(
        _cfg(optimizer=optimizer, schedule=schedule, lr=lr, epochs=2),
        _dataset(),
        _model(),
        emit=lambda e: None,
    )
    assert result.status == "finished" and result.best_val_acc > 0.75


def test_early_stopping_stops_when_val_loss_stalls() -> None:
    # lr 0: validation loss never improves after epoch 1, so patience 2 ends at epoch 3.
    result = train(
        _cfg(lr=0.0, epochs=10, early_stopping=2, schedule="constant"),
        _dataset(),
        _model(),
        emit=lambda e: None,
    )
    assert result.epochs_done == 3 and result.best_epoch == 1
    assert "early stopping" in result.message


def test_resume_from_checkpoint_matches_uninterrupted_run() -> None:
    checkpoints: list[dict] = []
    full = train(
        _cfg(epochs=3), _dataset(), _model(), emit=lambda e: None, checkpoint=checkpoints.append
    )
    assert [c["epoch"] for c in checkpoints] == [1, 2, 3]
    resumed = train(
        _cfg(epochs=3), _dataset(), _model(), emit=lambda e: None, resume=checkpoints[0]
    )
    assert resumed.epochs_done == 3  # history carried over
    assert [e.epoch for e in resumed.history] == [1, 2, 3]
    assert all(isinstance(e, EpochEvent) for e in resumed.history)
    for k, v in full.best_state.items():
        assert torch.allclose(v.float(), resumed.best_state[k].float(), atol=1e-6), k


def test_bf16_precision_trains_where_native_and_falls_back_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cnnlab.device as device

    for native in (True, False):
        monkeypatch.setattr(device, "native_bf16", lambda device, native=native: native)
        events: list = []
        result = train(_cfg(precision="bf16"), _dataset(), _model(), emit=events.append)
        assert events[0].precision == ("bf16" if native else "fp32")
        assert result.status == "finished" and result.best_val_acc > 0.9
        assert all(v.dtype != torch.bfloat16 for v in result.best_state.values())  # fp32 weights
    with pytest.raises(ValueError, match="precision"):
        train(_cfg(precision="fp16"), _dataset(), _model(), emit=lambda e: None)


def test_checkpoint_holds_only_what_weights_only_loads_and_resumes(tmp_path) -> None:
    """checkpoint.pt is read with torch.load(weights_only=True): the dict must round-trip."""
    checkpoints: list[dict] = []
    full = train(
        _cfg(epochs=2), _dataset(), _model(), emit=lambda e: None, checkpoint=checkpoints.append
    )
    expected = {
        "model",
        "optimizer",
        "scheduler",
        "generator",
        "torch_rng",
        "epoch",
        "history",
        "best_state",
        "best_val_loss",
        "best_val_acc",
        "best_epoch",
        "bad_epochs",
        "elapsed",
    }
    assert set(checkpoints[0]) == expected  # the keys of every checkpoint.pt written so far
    torch.save(checkpoints[0], tmp_path / "checkpoint.pt")
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    resumed = train(_cfg(epochs=2), _dataset(), _model(), emit=lambda e: None, resume=saved)
    assert [e.epoch for e in resumed.history] == [1, 2]
    for k, v in full.best_state.items():
        assert torch.allclose(v.float(), resumed.best_state[k].float(), atol=1e-6), k


def test_old_checkpoint_history_without_time_still_resumes() -> None:
    checkpoints: list[dict] = []
    train(_cfg(epochs=2), _dataset(), _model(), emit=lambda e: None, checkpoint=checkpoints.append)
    old = dict(checkpoints[0])
    old["history"] = [{k: v for k, v in e.items() if k != "time"} for e in old["history"]]
    resumed = train(_cfg(epochs=2), _dataset(), _model(), emit=lambda e: None, resume=old)
    assert resumed.history[0].val_acc == pytest.approx(old["history"][0]["val_acc"])
