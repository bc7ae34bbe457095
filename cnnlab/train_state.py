"""A training run in progress as one named thing, and its checkpoint (the dict checkpoint.pt holds).

`cnnlab.training.setup` makes a `TrainState`; `restore` loads a checkpoint into it and
`checkpoint_dict` makes one from it. The keys are those of every checkpoint.pt written so far,
so older runs still resume. Also the loop's small verdicts: each epoch's image order
(`epoch_order`, a DDP rank's shard), `stop_code`, and the stopped/diverged messages.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cnnlab.config import AugmentConfig, TrainConfig
from cnnlab.events import EpochEvent, parse_event, to_dict


@dataclass
class TrainState:
    """One run in progress: what it trains with, how far it got, and the best epoch so far.

    The fixed part is made by `setup`; the progress part is what a checkpoint saves and
    `restore` loads (see `checkpoint_dict` for the keys).
    """

    # -- fixed for the run (setup)
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # an LRScheduler, stepped once per batch
    generator: torch.Generator  # shuffling (the same order on every DDP rank) + CPU augmentation
    device: torch.device
    precision: str  # resolved: "fp32" or "bf16"
    channels_last: bool
    augment: AugmentConfig | None  # None = no augmentation (skips the work per batch)
    batch_size: int  # never larger than the training split
    steps_per_epoch: int
    total_steps: int  # epochs * steps_per_epoch
    event_gap_s: float  # least seconds between batch events (0 = every batch)
    train_model: Any = None  # what the step calls: `model`, or its DDP / torch.compile wrapper
    train_split: Any = None  # the training DataSplit, on the device when it fits (moved once)
    aug_generator: Any = None  # augmentation's generator: `generator` on the CPU, else on device
    collective: Any = None  # cnnlab.distributed.Collective of a DDP rank; None = one process
    lookahead: Any = None  # cnnlab.lookahead.Lookahead when TrainConfig.lookahead, else None
    # -- progress (checkpointed)
    epoch: int = 0  # epochs trained and validated
    step: int = 0  # optimiser steps done in the whole run
    history: list[EpochEvent] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)  # CPU copy
    best_val_loss: float = math.inf
    best_val_acc: float | None = None
    best_epoch: int = 0  # 0 = none validated yet
    bad_epochs: int = 0  # epochs since the validation loss last improved
    prior_elapsed: float = 0.0  # seconds trained by earlier passes (a resumed run)
    # -- this pass
    start_epoch: int = 0  # epochs done when this pass started
    t0: float = 0.0  # perf_counter origin, shifted back by prior_elapsed
    status: str = "finished"  # becomes "stopped" or "diverged"
    message: str = ""
    monitors: list[Any] = field(default_factory=list)  # cnnlab.training.Monitor, this pass only

    def elapsed(self) -> float:
        """Seconds of training, earlier passes included."""
        return time.perf_counter() - self.t0


@dataclass
class EpochTotals:
    """Sums over the batches of one epoch (for its train_loss/train_acc)."""

    seen: int = 0  # images
    loss_sum: float = 0.0  # sum over images of the loss
    correct: int = 0


def restore(state: TrainState, saved: dict[str, Any]) -> None:
    """Continue from a `checkpoint_dict` (older checkpoint.pt files have the same keys)."""
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    state.generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])  # dropout draws from the global generator
    state.epoch = state.start_epoch = int(saved["epoch"])
    state.step = state.epoch * state.steps_per_epoch
    history = [parse_event(e) for e in saved.get("history", [])]
    state.history = [e for e in history if isinstance(e, EpochEvent)]
    state.best_state = saved.get("best_state") or state.best_state
    state.best_val_loss = float(saved.get("best_val_loss", math.inf))
    state.best_val_acc = saved.get("best_val_acc")
    state.best_epoch = int(saved.get("best_epoch", 0))
    state.bad_epochs = int(saved.get("bad_epochs", 0))
    state.prior_elapsed = float(saved.get("elapsed", 0.0))
    if state.lookahead is not None:
        state.lookahead.restart(state.model, state.step)


def checkpoint_dict(state: TrainState) -> dict[str, Any]:
    """What `restore` needs, as tensors and primitives only (checkpoint.pt is loaded with
    torch.load(weights_only=True)). Deep copies: later steps update optimizer state in place."""
    return {
        "model": state_copy(state.model),
        "optimizer": copy.deepcopy(state.optimizer.state_dict()),
        "scheduler": copy.deepcopy(state.scheduler.state_dict()),
        "generator": state.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "epoch": state.epoch,
        "history": [to_dict(e) for e in state.history],
        "best_state": state.best_state,
        "best_val_loss": state.best_val_loss,
        "best_val_acc": state.best_val_acc,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "elapsed": state.elapsed(),
    }


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the weights (later steps must not change it)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def epoch_order(state: TrainState, n: int) -> torch.Tensor:
    """The epoch's image order (B indices per step); a DDP rank's share of one shuffle that
    every rank draws alike (DistributedSampler's rule: padded by repeats to W * ceil(N / W),
    then every W-th index from the rank's own)."""
    perm = torch.randperm(n, generator=state.generator)
    if state.collective is None:
        return perm
    world, rank = state.collective.world, state.collective.rank
    padded = torch.cat([perm, perm[: world * math.ceil(n / world) - n]])
    return padded[rank::world]


STOP_REQUEST, STOP_TIME_LIMIT = 1, 2  # why a run stops (0 = it does not)


def stop_code(state: TrainState, tc: TrainConfig, should_stop: Callable[[], bool]) -> int:
    """Why the run should stop before its next step (a STOP_ code), 0 = go on."""
    if should_stop():
        return STOP_REQUEST
    if tc.time_limit_s and state.elapsed() >= tc.time_limit_s:  # a lesson's limit per run
        return STOP_TIME_LIMIT
    return 0


def mark_stopped(state: TrainState, tc: TrainConfig, code: int, epoch: int) -> None:
    state.status = "stopped"
    if code == STOP_TIME_LIMIT:
        state.message = (
            f"reached its time limit of {tc.time_limit_s / 60:.3g} min at epoch {epoch}, "
            f"step {state.step}; the best weights so far were kept"
        )
    else:
        state.message = f"stopped by request at epoch {epoch}, step {state.step}"


def mark_diverged(state: TrainState, loss_value: float, epoch: int, step: int) -> None:
    state.status = "diverged"
    state.message = (
        f"the loss became {loss_value} at epoch {epoch}, step {step} "
        f"(learning rate {state.scheduler.get_last_lr()[0]:.3g}). Lower the learning "
        "rate (try 10x smaller), add batch-norm, or use a schedule with warm-up. "
        "The last good weights were kept."
    )
