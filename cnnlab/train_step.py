"""One optimiser step of the training loop (`cnnlab.training.run_epoch` calls `step`).

The images arrive as uint8 (on the device when the split fits there, `device.split_on_device`)
and become float in [0, 1] here; augmentation draws from `state.aug_generator`; the forward pass
runs under bf16 autocast when the run's precision says so, the loss always in fp32. Nothing is
read back to the host except on the CPU (free there) or across DDP ranks (their agreement).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cnnlab.config import TrainConfig
from cnnlab.data.augment import augment_batch
from cnnlab.device import autocast
from cnnlab.train_state import TrainState


def step(
    state: TrainState, tc: TrainConfig, x: torch.Tensor, y: torch.Tensor, stop: int
) -> tuple[int, bool, torch.Tensor, torch.Tensor]:
    """One optimiser step on uint8 images `x` (B,C,H,W), labels `y` (B,), unless a stop (`stop`
    != 0) or a non-finite loss comes first. DDP ranks agree on both after the forward pass (one
    all-reduce of two numbers), so all of them take the step, or none does and none is left
    waiting in the gradients' all-reduce. Returns (stop, diverged, loss, correct), the last two
    as device scalars (no host sync here on a GPU: its NaN is found when the sums are read)."""
    xb = to_input(x, state.device, False)
    yb = y.to(state.device, non_blocking=True)
    if state.augment is not None:
        xb = augment_batch(xb, state.augment, state.aug_generator)
    if state.channels_last:
        xb = xb.contiguous(memory_format=torch.channels_last)
    with autocast(state.device, state.precision):
        logits = state.train_model(xb).float()  # (B, K); the loss is always computed in fp32
    loss = F.cross_entropy(logits, yb, label_smoothing=tc.label_smoothing)
    if state.collective is not None:
        stop, bad = state.collective.agree(stop, loss.detach())
    else:  # on the CPU the read is free, and a bad step is never taken
        bad = state.device.type == "cpu" and not math.isfinite(loss.item())
    correct = (logits.detach().argmax(1) == yb).sum()
    if stop or bad:
        return stop, bad, loss.detach(), correct
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    state.scheduler.step()
    state.step += 1
    if state.lookahead is not None:
        state.lookahead.after_step(state.model, state.step)
    return 0, False, loss.detach(), correct


def train_step(
    state: TrainState, tc: TrainConfig, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, int]:
    """One optimiser step on uint8 images `x` (B,C,H,W), labels `y` (B,). Returns (loss, number
    correct); a non-finite loss is returned without updating the weights (on the CPU)."""
    _, _, loss, correct = step(state, tc, x, y, 0)
    return loss.item(), int(correct.item())


def to_input(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 (B,C,H,W) -> float32 in [0,1] on `device` (NHWC layout when `channels_last`)."""
    x = x.to(device, non_blocking=True).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
