"""The training engine: one loop for the CLI, the app's background jobs and the tests.

Progress flows out as plain dict events through `emit` (the runner appends them to events.jsonl);
`should_stop` is polled once per batch, so a stop request ends the run within one batch.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.config import RunConfig, TrainConfig
from cnnlab.data.augment import augment_batch
from cnnlab.registry import Registry

Emit = Callable[[dict[str, Any]], None]

OPTIMIZERS: Registry[Callable[[list[nn.Parameter], TrainConfig], torch.optim.Optimizer]] = Registry(
    "optimizer"
)
SCHEDULES: Registry[Callable[[torch.optim.Optimizer, TrainConfig, int], Any]] = Registry("schedule")


def _param_groups(params: list[nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    # No weight decay on biases and norm scales (1-D tensors): the usual, better-behaved choice.
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


@OPTIMIZERS.register("sgd")
def _sgd(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    nesterov = cfg.nesterov and cfg.momentum > 0
    return torch.optim.SGD(
        _param_groups(params, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=nesterov
    )


@OPTIMIZERS.register("adam")
def _adam(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    # Adam's weight decay is L2 added to the gradient (the classic formulation).
    return torch.optim.Adam(
        _param_groups(params, cfg.weight_decay), lr=cfg.lr, betas=(cfg.momentum, 0.999)
    )


@OPTIMIZERS.register("adamw")
def _adamw(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        _param_groups(params, cfg.weight_decay), lr=cfg.lr, betas=(cfg.momentum, 0.999)
    )


# Schedules step once per batch; `steps_per_epoch` converts epoch units to steps.
@SCHEDULES.register("constant")
def _constant(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


@SCHEDULES.register("step")
def _step(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    return torch.optim.lr_scheduler.StepLR(
        opt, step_size=max(1, cfg.step_size) * steps_per_epoch, gamma=cfg.gamma
    )


@SCHEDULES.register("cosine")
def _cosine(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(1, cfg.epochs * steps_per_epoch)
    )


@SCHEDULES.register("onecycle")
def _onecycle(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    # One step more than the run takes: after the last step the lr is then the final one instead
    # of a linear extrapolation past it (negative for short runs). At least 5: OneCycleLR divides
    # by (pct_start * total - 1), which is 0/0 at exactly 4.
    total = max(5, cfg.epochs * steps_per_epoch + 1)
    return torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=cfg.lr,
        total_steps=total,
        pct_start=0.25,
        anneal_strategy="linear",
        cycle_momentum=False,
        div_factor=10.0,
        final_div_factor=100.0,
    )


def pick_device(name: str = "auto") -> torch.device:
    """CUDA or MPS when present (for "auto"), else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 natively (CPU: AVX512-BF16 or AMX; CUDA: Ampere+).
    Elsewhere bf16 is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def resolve_precision(name: str, device: torch.device) -> str:
    """The precision `train` really uses: "bf16" only where `device` has native bf16."""
    if name not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision {name!r}; choose fp32 or bf16")
    return "bf16" if name == "bf16" and native_bf16(device) else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for "bf16" (convs and matmuls in bf16, weights and optimiser in fp32)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def set_threads(threads: int) -> int:
    """Intra-op threads for the CPU: `threads`; when 0, env CNNLAB_THREADS (set by the job manager
    to share cores between parallel jobs) or all cores. Returns the count used."""
    count = threads or int(os.environ.get("CNNLAB_THREADS") or 0) or (os.cpu_count() or 1)
    torch.set_num_threads(count)
    return count


@dataclass
class TrainResult:
    status: str  # finished, stopped, diverged
    message: str
    best_state: dict[str, torch.Tensor]
    best_epoch: int  # 0 = no epoch completed
    best_val_acc: float | None
    epochs_done: int
    history: list[dict[str, Any]] = field(default_factory=list)  # epoch events


@torch.inference_mode()
def evaluate_split(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    channels_last: bool = False,
    precision: str = "fp32",
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` on uint8 images `x` (N,C,H,W), labels `y` (N,).

    `precision` is a resolved one (see `resolve_precision`)."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb = _to_input(x[start : start + batch_size], device, channels_last)
        yb = y[start : start + batch_size].to(device)
        with autocast(device, precision):
            logits = model(xb).float()
        total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    model.train(was_training)
    n = max(1, len(x))
    return total_loss / n, correct / n


def _to_input(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 (B,C,H,W) -> float32 in [0,1] on `device` (NHWC layout when `channels_last`)."""
    x = x.to(device, non_blocking=True).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train(
    cfg: RunConfig,
    dataset: Any,
    model: nn.Module,
    *,
    emit: Emit,
    should_stop: Callable[[], bool] = lambda: False,
    resume: dict[str, Any] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train `model` on `dataset` (an ImageDataset) with `cfg.train`; see module docstring.

    `resume` is a checkpoint dict made by a previous call's `checkpoint` callback.
    """
    tc, aug = cfg.train, cfg.augment
    if not dataset.hflip_ok and aug.hflip:
        aug = dataclasses.replace(aug, hflip=False)
    device = pick_device(tc.device)
    if device.type == "cpu":
        set_threads(tc.threads)
    torch.manual_seed(tc.seed)
    gen = torch.Generator().manual_seed(tc.seed)  # shuffling + augmentation (CPU side)
    channels_last = tc.channels_last and device.type != "mps"
    precision = resolve_precision(tc.precision, device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    x_train, y_train = dataset.train.x, dataset.train.y
    n = len(x_train)
    if n == 0:
        raise ValueError("the training split is empty: choose a dataset with images")
    batch_size = max(1, min(tc.batch_size, n))  # a batch larger than the dataset = full batch
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = max(0, tc.epochs) * steps_per_epoch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = OPTIMIZERS.get(tc.optimizer)(params, tc)
    scheduler = SCHEDULES.get(tc.schedule)(optimizer, tc, steps_per_epoch)

    history: list[dict[str, Any]] = []
    best_state = _state_copy(model)
    best_val_loss, best_val_acc, best_epoch = math.inf, None, 0
    start_epoch, bad_epochs, prior_elapsed = 0, 0, 0.0
    if resume:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])  # dropout draws from the global generator
        start_epoch = int(resume["epoch"])
        history = list(resume.get("history", []))
        best_state = resume.get("best_state") or best_state
        best_val_loss = float(resume.get("best_val_loss", math.inf))
        best_val_acc = resume.get("best_val_acc")
        best_epoch = int(resume.get("best_epoch", 0))
        bad_epochs = int(resume.get("bad_epochs", 0))
        prior_elapsed = float(resume.get("elapsed", 0.0))

    emit(
        {
            "type": "start",
            "epochs": tc.epochs,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps,
            "train_size": n,
            "batch_size": batch_size,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "precision": precision,
            "resumed_epoch": start_epoch,
        }
    )

    t0 = time.perf_counter() - prior_elapsed
    step = start_epoch * steps_per_epoch
    event_gap = 1.0 / tc.batch_events_per_s if tc.batch_events_per_s > 0 else 0.0
    last_event, status, message = -math.inf, "finished", ""
    model.train()
    for epoch in range(start_epoch + 1, tc.epochs + 1):
        perm = torch.randperm(n, generator=gen)
        seen, loss_sum, correct_sum, window_t, window_n = 0, 0.0, 0, time.perf_counter(), 0
        for b in range(steps_per_epoch):
            if should_stop():
                status, message = "stopped", f"stopped by request at epoch {epoch}, step {step}"
                break
            idx = perm[b * batch_size : (b + 1) * batch_size]
            xb = _to_input(x_train[idx], device, False)
            yb = y_train[idx].to(device, non_blocking=True)
            if aug != type(aug)():
                xb = augment_batch(xb, aug, gen if device.type == "cpu" else None)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                logits = model(xb).float()  # (B, K); the loss is always computed in fp32
            loss = F.cross_entropy(logits, yb, label_smoothing=tc.label_smoothing)
            loss_value = loss.item()  # one host sync per batch (free on the CPU)
            if not math.isfinite(loss_value):
                status = "diverged"
                message = (
                    f"the loss became {loss_value} at epoch {epoch}, step {step + 1} "
                    f"(learning rate {scheduler.get_last_lr()[0]:.3g}). Lower the learning "
                    "rate (try 10x smaller), add batch-norm, or use a schedule with warm-up. "
                    "The last good weights were kept."
                )
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            batch_correct = (logits.detach().argmax(1) == yb).sum().item()
            seen += len(idx)
            loss_sum += loss_value * len(idx)
            correct_sum += batch_correct
            window_n += len(idx)
            now = time.perf_counter()
            if now - last_event >= event_gap or b == steps_per_epoch - 1:
                elapsed = now - t0
                emit(
                    {
                        "type": "batch",
                        "epoch": epoch,
                        "step": step,
                        "loss": loss_value,
                        "acc": batch_correct / len(idx),
                        "lr": scheduler.get_last_lr()[0],
                        "images_per_s": window_n / max(1e-9, now - window_t),
                        "elapsed": elapsed,
                        "eta": elapsed
                        / max(1, step - start_epoch * steps_per_epoch)
                        * (total_steps - step),
                    }
                )
                last_event, window_t, window_n = now, now, 0
        if status == "diverged" or (status == "stopped" and seen == 0):
            break
        val_loss, val_acc = evaluate_split(
            model,
            dataset.val.x,
            dataset.val.y,
            tc.eval_batch_size,
            device,
            channels_last,
            precision,
        )
        improved = val_loss < best_val_loss or best_val_acc is None
        if improved:
            best_val_loss, best_val_acc, best_epoch, bad_epochs = val_loss, val_acc, epoch, 0
            best_state = _state_copy(model)
        else:
            bad_epochs += 1
        elapsed = time.perf_counter() - t0
        done_epochs = epoch - start_epoch
        event = {
            "type": "epoch",
            "epoch": epoch,
            "step": step,
            "partial": status == "stopped",
            "train_loss": loss_sum / max(1, seen),
            "train_acc": correct_sum / max(1, seen),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": scheduler.get_last_lr()[0],
            "elapsed": elapsed,
            "best": improved,
            "eta": (elapsed - prior_elapsed) / done_epochs * (tc.epochs - epoch),
        }
        history.append(event)
        emit(event)
        if status == "stopped":
            break
        if checkpoint and tc.checkpoint_every > 0 and epoch % tc.checkpoint_every == 0:
            # Deep copies: optimizer state tensors are updated in place by later steps.
            checkpoint(
                {
                    "model": _state_copy(model),
                    "optimizer": copy.deepcopy(optimizer.state_dict()),
                    "scheduler": copy.deepcopy(scheduler.state_dict()),
                    "generator": gen.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "epoch": epoch,
                    "history": list(history),
                    "best_state": best_state,
                    "best_val_loss": best_val_loss,
                    "best_val_acc": best_val_acc,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "elapsed": elapsed,
                }
            )
        if tc.early_stopping > 0 and bad_epochs >= tc.early_stopping:
            message = (
                f"early stopping: validation loss did not improve for {bad_epochs} epochs; "
                f"kept the weights of epoch {best_epoch}"
            )
            break
    if status == "stopped" and best_epoch == 0:
        best_state = _state_copy(model)  # nothing validated yet: keep what was learned so far
    model.load_state_dict(best_state)
    emit(
        {
            "type": "end",
            "status": status,
            "message": message,
            "best_epoch": best_epoch,
            "best_val_acc": best_val_acc,
            "elapsed": time.perf_counter() - t0,
        }
    )
    return TrainResult(status, message, best_state, best_epoch, best_val_acc, len(history), history)


def clone_config(cfg: RunConfig, **train_fields: Any) -> RunConfig:
    """A copy of `cfg` with some TrainConfig fields replaced (handy in tests and benchmarks)."""
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **train_fields))
