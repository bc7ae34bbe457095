"""The training engine: one loop for the CLI, the app's background jobs and the tests.

`train` reads in one screen: `setup` builds a `TrainState` (model, optimizer, schedule, generator
and the run's progress), `restore` loads a checkpoint into it, then per epoch `run_epoch` trains,
`validate` measures and records, and `checkpoint_dict` makes what the `checkpoint` callback saves.
Progress flows out as the typed events of `cnnlab.events` through `emit`; `should_stop` is polled
once per batch, so a stop request ends the run within one batch. Optimizers and schedules are
registries in `cnnlab.optim`. `monitors` watch the run from inside the loop (snapshots of feature
maps, weight and gradient norms: see `Monitor` and `cnnlab.runs.monitors`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from cnnlab.config import AugmentConfig, RunConfig, TrainConfig
from cnnlab.device import (
    augment_generator,
    autocast,
    native_bf16,
    pick_device,
    resolve_precision,
    set_threads,
    split_on_device,
    tune_cuda,
    use_compile,
)
from cnnlab.events import BatchEvent, EndEvent, EpochEvent, StartEvent
from cnnlab.lookahead import Lookahead
from cnnlab.models.airnet import fit_whitening
from cnnlab.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule
from cnnlab.train_eval import evaluate_classes, evaluate_split
from cnnlab.train_state import (
    EpochTotals,
    TrainState,
    checkpoint_dict,
    epoch_order,
    mark_diverged,
    mark_stopped,
    restore,
    state_copy,
    stop_code,
)
from cnnlab.train_step import step, train_step

__all__ = ["OPTIMIZERS", "SCHEDULES", "TrainResult", "TrainState", "evaluate_split", "train"]
__all__ += ["evaluate_classes"]
__all__ += ["train_step"]
__all__ += ["autocast", "native_bf16", "pick_device", "resolve_precision", "set_threads"]

Emit = Callable[[Any], None]  # receives StartEvent, BatchEvent, EpochEvent, EndEvent


class Monitor(Protocol):
    """Watches a run from inside the training loop (on the training process only).

    A monitor may switch the model to eval mode and run it under `torch.inference_mode()`, but
    must leave it in train mode and must not change weights, the optimizer or `state.generator`
    (use its own generator), so a run trains the same with or without monitors. Its time counts
    as training time: keep it to a few percent (bench it).
    """

    def on_start(self, state: TrainState) -> None:
        """Before the first step of this pass (`state.start_epoch` epochs already done; 0 = the
        initial random weights of a fresh run)."""

    def after_step(self, state: TrainState, epoch: int, batch: int) -> None:
        """After optimiser step `state.step` (batch `batch`, 0-based, of 1-based `epoch`); the
        parameters' `.grad` still hold this step's gradients."""

    def on_epoch_end(self, state: TrainState, event: EpochEvent) -> None:
        """After `validate` recorded epoch `event.epoch` (`event.partial`: a stopped epoch)."""


@dataclass
class TrainResult:
    status: str  # finished, stopped, diverged
    message: str
    best_state: dict[str, torch.Tensor]
    best_epoch: int  # 0 = no epoch completed
    best_val_acc: float | None
    epochs_done: int
    history: list[EpochEvent] = field(default_factory=list)


def train(
    cfg: RunConfig,
    dataset: Any,
    model: nn.Module,
    *,
    emit: Emit,
    should_stop: Callable[[], bool] = lambda: False,
    resume: dict[str, Any] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    monitors: Sequence[Monitor] = (),
    collective: Any = None,
) -> TrainResult:
    """Train `model` on `dataset` (an ImageDataset) with `cfg.train`; see module docstring.

    `resume` is a checkpoint dict made by a previous call's `checkpoint` callback. `collective`
    (a `cnnlab.distributed.Collective`) makes this one DDP rank of a torchrun run: it trains its
    shard of each epoch, and stops and diverges together with the others.
    """
    tc = cfg.train
    state = setup(cfg, dataset, model, collective)
    state.monitors = list(monitors)
    if resume:
        restore(state, resume)
    emit(start_event(state, tc, len(dataset.train.x)))
    state.t0 = time.perf_counter() - state.prior_elapsed
    for monitor in state.monitors:
        monitor.on_start(state)
    model.train()
    for epoch in range(state.start_epoch + 1, tc.epochs + 1):
        totals = run_epoch(state, tc, state.train_split, epoch, emit, should_stop)
        if state.status == "diverged" or (state.status == "stopped" and totals.seen == 0):
            break
        event = validate(state, tc, dataset.val, epoch, totals)
        emit(event)
        for monitor in state.monitors:
            monitor.on_epoch_end(state, event)
        if state.status == "stopped":
            break
        if checkpoint and tc.checkpoint_every > 0 and epoch % tc.checkpoint_every == 0:
            checkpoint(checkpoint_dict(state))
        if tc.early_stopping > 0 and state.bad_epochs >= tc.early_stopping:
            state.message = (
                f"early stopping: validation loss did not improve for {state.bad_epochs} epochs; "
                f"kept the weights of epoch {state.best_epoch}"
            )
            break
    return finish(state, emit)


def setup(cfg: RunConfig, dataset: Any, model: nn.Module, collective: Any = None) -> TrainState:
    """Device, threads, seeds, optimizer and schedule for a fresh run; moves `model` there.

    With a `collective` of W ranks, `tc.batch_size` is the images per step summed over the
    ranks (so the optimisation matches one process) and each rank trains ceil(N / W) images
    per epoch."""
    tc, aug = cfg.train, cfg.augment
    if not dataset.hflip_ok and aug.hflip:
        aug = dataclasses.replace(aug, hflip=False)
    device = collective.device if collective is not None else pick_device(tc.device)
    if device.type == "cpu":
        set_threads(tc.threads)
    tune_cuda(device)
    torch.manual_seed(tc.seed)
    channels_last = tc.channels_last and device.type != "mps"
    precision = resolve_precision(tc.precision, device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    n = len(dataset.train.x)
    if n == 0:
        raise ValueError("the training split is empty: choose a dataset with images")
    world, rank = (collective.world, collective.rank) if collective is not None else (1, 0)
    shard = math.ceil(n / world)  # images per rank per epoch
    batch_size = max(1, min(math.ceil(tc.batch_size / world), shard))  # larger = full batch
    steps_per_epoch = math.ceil(shard / batch_size)
    fit_whitening(model, dataset.train.x)  # AirNet's stem: fitted once, before the first step
    optimizer = build_optimizer(model, tc)
    train_model = collective.wrap(model) if collective is not None else model
    if use_compile(tc.compile, device):
        train_model = torch.compile(train_model)
    generator = torch.Generator().manual_seed(tc.seed)
    return TrainState(
        model=model,
        optimizer=optimizer,
        scheduler=build_schedule(optimizer, tc, steps_per_epoch),
        generator=generator,
        device=device,
        precision=precision,
        channels_last=channels_last,
        augment=aug if aug != AugmentConfig() else None,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        total_steps=max(0, tc.epochs) * steps_per_epoch,
        event_gap_s=1.0 / tc.batch_events_per_s if tc.batch_events_per_s > 0 else 0.0,
        train_model=train_model,
        train_split=split_on_device(dataset.train, device),
        # one process on the CPU: one generator for the order and the augmentation (as always);
        # a GPU or a DDP rank: its own stream on the device (rank r: seed * 256 + r + 1)
        aug_generator=generator
        if device.type == "cpu" and world == 1
        else augment_generator(device, tc.seed * 256 + rank + 1),
        collective=collective,
        best_state=state_copy(model),
        lookahead=Lookahead(steps_per_epoch, max(0, tc.epochs) * steps_per_epoch)
        if tc.lookahead
        else None,  # noqa: E501
    )


def start_event(state: TrainState, tc: TrainConfig, train_size: int) -> StartEvent:
    return StartEvent(
        epochs=tc.epochs,
        steps_per_epoch=state.steps_per_epoch,
        total_steps=state.total_steps,
        train_size=train_size,
        batch_size=state.batch_size * (state.collective.world if state.collective else 1),
        device=str(state.device),
        threads=torch.get_num_threads(),
        precision=state.precision,
        resumed_epoch=state.start_epoch,
    )


def run_epoch(
    state: TrainState,
    tc: TrainConfig,
    split: Any,
    epoch: int,
    emit: Emit,
    should_stop: Callable[[], bool],
) -> EpochTotals:
    """Train one epoch (1-based `epoch`) on `split` (x uint8 (N,C,H,W), y (N,)); emits batch
    events at most every `event_gap_s` and after the last batch. Ends early on a stop request
    or a non-finite loss (`state.status` says which). The loss and accuracy sums stay on the
    device and are read only when an event is emitted (a GPU never waits for the host)."""
    totals = EpochTotals()
    perm = epoch_order(state, len(split.x)).to(split.x.device)
    loss_sum = torch.zeros((), device=state.device)  # sum over images of the loss
    correct_sum = torch.zeros((), device=state.device, dtype=torch.long)
    window_t, window_n, last_event = time.perf_counter(), 0, -math.inf
    start_step = state.start_epoch * state.steps_per_epoch
    world = state.collective.world if state.collective is not None else 1
    for b in range(state.steps_per_epoch):
        stop = stop_code(state, tc, should_stop)
        if stop and state.collective is None:  # DDP ranks agree on it after the forward pass
            mark_stopped(state, tc, stop, epoch)
            break
        idx = perm[b * state.batch_size : (b + 1) * state.batch_size]
        stop, bad, loss, correct = step(state, tc, split.x[idx], split.y[idx], stop)
        if stop or bad:
            if stop:
                mark_stopped(state, tc, stop, epoch)
            else:
                mark_diverged(state, loss.item(), epoch, state.step + 1)
            break
        for monitor in state.monitors:
            monitor.after_step(state, epoch, b)
        totals.seen += len(idx)
        loss_sum += loss * len(idx)
        correct_sum += correct
        window_n += len(idx)
        now = time.perf_counter()
        if now - last_event >= state.event_gap_s or b == state.steps_per_epoch - 1:
            # the one host read per event: the last batch's loss and accuracy, the epoch's sum
            loss_value, acc_count, epoch_loss = torch.stack(
                [loss.float(), correct.float(), loss_sum.float()]
            ).tolist()
            if not math.isfinite(epoch_loss):  # a GPU's NaN is found here (the CPU's at once)
                mark_diverged(state, loss_value, epoch, state.step)
                break
            elapsed = now - state.t0
            emit(
                BatchEvent(
                    epoch=epoch,
                    step=state.step,
                    loss=loss_value,
                    acc=acc_count / len(idx),
                    lr=state.scheduler.get_last_lr()[0],
                    images_per_s=window_n * world / max(1e-9, now - window_t),
                    elapsed=elapsed,
                    eta=elapsed
                    / max(1, state.step - start_step)
                    * (state.total_steps - state.step),
                )
            )
            last_event, window_t, window_n = now, now, 0
    totals.loss_sum, totals.correct = float(loss_sum), int(correct_sum)
    if state.lookahead is not None:
        state.lookahead.end_epoch(state.model)
    if state.collective is not None:  # the epoch's figures over every rank's shard
        state.collective.end_epoch(state.model, totals)
    return totals


def validate(
    state: TrainState, tc: TrainConfig, split: Any, epoch: int, totals: EpochTotals
) -> EpochEvent:
    """Measure `split`, keep the weights when the validation loss improved, record the epoch."""
    val_loss, val_acc, class_acc = evaluate_classes(
        state.model,
        split.x,
        split.y,
        tc.eval_batch_size,
        state.device,
        state.channels_last,
        state.precision,
    )
    improved = val_loss < state.best_val_loss or state.best_val_acc is None
    if improved:
        state.best_val_loss, state.best_val_acc = val_loss, val_acc
        state.best_epoch, state.bad_epochs = epoch, 0
        state.best_state = state_copy(state.model)
    else:
        state.bad_epochs += 1
    state.epoch = epoch
    elapsed = state.elapsed()
    event = EpochEvent(
        epoch=epoch,
        step=state.step,
        partial=state.status == "stopped",
        train_loss=totals.loss_sum / max(1, totals.seen),
        train_acc=totals.correct / max(1, totals.seen),
        val_loss=val_loss,
        val_acc=val_acc,
        lr=state.scheduler.get_last_lr()[0],
        elapsed=elapsed,
        best=improved,
        eta=(elapsed - state.prior_elapsed) / (epoch - state.start_epoch) * (tc.epochs - epoch),
        val_class_acc=class_acc,
    )
    state.history.append(event)
    return event


def finish(state: TrainState, emit: Emit) -> TrainResult:
    """Load the best weights into the model, emit the end event, and say how it went."""
    if state.status == "stopped" and state.best_epoch == 0:
        state.best_state = state_copy(state.model)  # nothing validated: keep what was learned
    state.model.load_state_dict(state.best_state)
    emit(
        EndEvent(
            status=state.status,
            message=state.message,
            best_epoch=state.best_epoch,
            best_val_acc=state.best_val_acc,
            elapsed=state.elapsed(),
        )
    )
    return TrainResult(
        state.status,
        state.message,
        state.best_state,
        state.best_epoch,
        state.best_val_acc,
        len(state.history),
        state.history,
    )
