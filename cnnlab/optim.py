"""Optimizers and learning-rate schedules by name: add one here and every picker, the CLI and the
parametrized tests see it.

An optimizer builder takes the trainable parameters and the TrainConfig; a schedule builder takes
the optimizer, the TrainConfig and the steps per epoch (schedules step once per batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnlab.config import TrainConfig
from cnnlab.registry import Registry

OptimizerBuilder = Callable[[list[nn.Parameter], TrainConfig], torch.optim.Optimizer]
ScheduleBuilder = Callable[[torch.optim.Optimizer, TrainConfig, int], Any]

OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")
SCHEDULES: Registry[ScheduleBuilder] = Registry("schedule")


LR_SCALE = "lr_scale"  # parameter attribute: its lr = the lr x this (fine-tuning sets it)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """`cfg.optimizer` over the trainable parameters of `model` (frozen ones are left out)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return OPTIMIZERS.get(cfg.optimizer)(params, cfg)


def build_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    """`cfg.schedule` for `optimizer`; an LRScheduler stepped once per batch."""
    return SCHEDULES.get(cfg.schedule)(optimizer, cfg, steps_per_epoch)


def _param_groups(params: list[nn.Parameter], cfg: TrainConfig) -> list[dict[str, Any]]:
    # No weight decay on biases and norm scales (1-D tensors): the usual, better-behaved choice.
    # Pre-trained parameters (`LR_SCALE`, `cnnlab.finetune`) get their own groups after these,
    # so the first group (the one the events' lr reports) is always the plain lr.
    scales = sorted({getattr(p, LR_SCALE, 1.0) for p in params} - {1.0})
    groups = []
    for scale in (1.0, *scales):
        mine = [p for p in params if getattr(p, LR_SCALE, 1.0) == scale]
        for decay in (True, False):
            group = [p for p in mine if (p.ndim > 1) == decay]
            if group or scale == 1.0:  # the two plain groups always (checkpoints expect them)
                wd = cfg.weight_decay if decay else 0.0
                groups.append({"params": group, "weight_decay": wd, "lr": cfg.lr * scale})
    return groups


@OPTIMIZERS.register("sgd")
def _sgd(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    nesterov = cfg.nesterov and cfg.momentum > 0
    return torch.optim.SGD(
        _param_groups(params, cfg), lr=cfg.lr, momentum=cfg.momentum, nesterov=nesterov
    )


@OPTIMIZERS.register("adam")
def _adam(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    # Adam's weight decay is L2 added to the gradient (the classic formulation).
    return torch.optim.Adam(_param_groups(params, cfg), lr=cfg.lr, betas=(cfg.momentum, 0.999))


@OPTIMIZERS.register("adamw")
def _adamw(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(_param_groups(params, cfg), lr=cfg.lr, betas=(cfg.momentum, 0.999))


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
        max_lr=[group["lr"] for group in opt.param_groups],  # per group (fine-tuning scales)
        total_steps=total,
        pct_start=0.25,
        anneal_strategy="linear",
        cycle_momentum=False,
        div_factor=10.0,
        final_div_factor=100.0,
    )
