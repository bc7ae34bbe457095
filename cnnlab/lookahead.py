"""Lookahead averaging of the weights (airbench's, from hlb-cifar10): `TrainConfig.lookahead`.

From epoch START_EPOCH on, every EVERY steps the weights (and batch-norm statistics) move to an
exponential average of themselves: avg <- lerp(avg, weights, 1 - rho); weights <- avg. The
decay rho = BASE**EVERY * (step / total_steps)**POWER grows over the run: a fast-moving average
early, strong averaging at the end, where it does what weight averaging does (a flatter, better
generalising point) without a second copy to evaluate. At each epoch's end the weights are the
average, so a checkpoint holds it and a resumed run restarts the average from the weights.
"""

from __future__ import annotations

import torch
from torch import nn

START_EPOCH = 3  # epochs trained before the averaging starts (the early weights move too fast)
EVERY = 5  # optimiser steps between averaging updates
BASE = 0.95  # per-step decay before the warm-up factor
POWER = 3.0  # the decay's warm-up over the run: (step / total) ** POWER


class Lookahead:
    """The running average for one run of `total_steps` steps of `steps_per_epoch`."""

    def __init__(self, steps_per_epoch: int, total_steps: int) -> None:
        self.start_step = START_EPOCH * steps_per_epoch
        self.total_steps = max(1, total_steps)
        self.average: dict[str, torch.Tensor] | None = None

    @torch.no_grad()
    def after_step(self, model: nn.Module, step: int) -> None:
        """Called after optimiser step number `step` (1-based over the run)."""
        if step <= self.start_step or step % EVERY:
            return
        tensors = _float_tensors(model)
        if self.average is None:
            self.average = {k: v.clone() for k, v in tensors.items()}
            return
        rho = BASE**EVERY * (step / self.total_steps) ** POWER
        for name, value in tensors.items():
            self.average[name].lerp_(value, 1 - rho)
            value.copy_(self.average[name])

    @torch.no_grad()
    def end_epoch(self, model: nn.Module) -> None:
        """Put the average into the weights (validation and checkpoints see it)."""
        if self.average is not None:
            for name, value in _float_tensors(model).items():
                value.copy_(self.average[name])

    def restart(self, model: nn.Module, step: int) -> None:
        """After a resume at step `step`: the weights are the average (see the module doc)."""
        if step > self.start_step:
            self.average = {k: v.detach().clone() for k, v in _float_tensors(model).items()}


def _float_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights and float buffers (batch-norm statistics), not counters or flags."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
