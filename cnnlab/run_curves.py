"""Curves that explain a run: its learning-rate schedule, per-class validation accuracy, the
train/validation gap with the start of overfitting marked, weight and gradient norms per layer;
and the LR finder's loss-against-rate curve.

Inputs are a run's saved config and its typed events (a `History`'s epochs, `NormsEvent`s);
old runs without a field (`val_class_acc`, norms) get a figure that says so. Figures are plotly,
in the lab's template (`cnnlab.figure_style`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnlab.config import RunConfig
from cnnlab.events import EpochEvent, NormsEvent, latest_pass
from cnnlab.figure_style import (
    ACCURACY_RANGE,
    MARGIN,
    TEMPLATE,
    TRAIN_COLOR,
    VAL_COLOR,
    message_figure,
)
from cnnlab.text import html_escape

MAX_SCHEDULE_STEPS = 200_000  # steps stepped through to draw a schedule (longer: the first ones)
SCHEDULE_POINTS = 2_000  # points drawn at most (every k-th step)
OVERFIT_RULE = (
    "Overfitting starts at the epoch of lowest validation loss when the validation loss then "
    "rises for 2 epochs in a row while the training loss keeps falling."
)


def lr_schedule(cfg: RunConfig, steps_per_epoch: int) -> tuple[list[int], list[float]]:
    """(steps, learning rate used at each step) of `cfg.train`'s schedule, computed with the
    training code's own optimizer and scheduler (`cnnlab.optim`) on a one-weight stand-in;
    step s is the s-th optimiser step (1-based), as in the run's batch events."""
    import torch

    from cnnlab.optim import build_optimizer, build_schedule

    tc = cfg.train
    total = min(max(0, tc.epochs) * max(1, steps_per_epoch), MAX_SCHEDULE_STEPS)
    optimizer = build_optimizer(torch.nn.Linear(1, 1), tc)
    scheduler = build_schedule(optimizer, tc, max(1, steps_per_epoch))
    every = max(1, math.ceil(total / SCHEDULE_POINTS))
    steps, lrs = [], []
    for s in range(1, total + 1):
        lr = scheduler.get_last_lr()[0]  # the rate step s uses
        if s % every == 0 or s in (1, total):
            steps.append(s)
            lrs.append(lr)
        optimizer.step()  # no gradients: nothing changes but the scheduler's count
        scheduler.step()
    return steps, lrs


def schedule_figure(
    steps: list[int], lrs: list[float], recorded: Sequence[object] = ()
) -> go.Figure:
    """The schedule as a line; `recorded` batch events' `lr` (after their step) as dots on it."""
    if not steps:
        return message_figure("this run trains no steps")
    fig = go.Figure(go.Scatter(x=steps, y=lrs, mode="lines", name="schedule (from the config)"))
    seen = [b for b in latest_pass(recorded, "step") if getattr(b, "lr", None) is not None]
    if seen:
        fig.add_trace(go.Scatter(x=[b.step + 1 for b in seen], y=[b.lr for b in seen],
                                 mode="markers", name="recorded", marker=dict(size=4)))  # fmt: skip
    fig.update_layout(template=TEMPLATE, height=280, margin=MARGIN, xaxis_title="step",
                      yaxis_title="learning rate", legend=dict(orientation="h", y=1.12))  # fmt: skip
    return fig


def class_accuracy_figure(epochs: Sequence[EpochEvent], class_names: Sequence[str]) -> go.Figure:
    """Validation accuracy of each class per epoch, one line per class."""
    epochs = [e for e in latest_pass(epochs, "epoch") if e.val_class_acc]
    if not epochs:
        return message_figure("no per-class accuracy recorded (a run from before it existed)")
    fig = go.Figure()
    for k, name in enumerate(class_names):
        y = [e.val_class_acc[k] if k < len(e.val_class_acc) else None for e in epochs]
        fig.add_trace(go.Scatter(x=[e.epoch for e in epochs], y=y, name=html_escape(name),
                                 mode="lines+markers"))  # fmt: skip
    fig.update_layout(template=TEMPLATE, height=340, margin=MARGIN, xaxis_title="epoch",
                      yaxis_title="validation accuracy", yaxis_tickformat=".0%",
                      yaxis_range=ACCURACY_RANGE, hovermode="x unified")  # fmt: skip
    fig.update_xaxes(dtick=1 if len(epochs) <= 12 else None)
    return fig


@dataclass(frozen=True)
class OverfitMark:
    """Where overfitting starts by OVERFIT_RULE (`epoch` None: not seen)."""

    epoch: int | None
    text: str  # what happened, for people


def overfit_start(epochs: Sequence[EpochEvent]) -> OverfitMark:
    """OVERFIT_RULE applied to a run's epochs (latest pass)."""
    rows = [e for e in latest_pass(epochs, "epoch") if e.val_loss is not None and e.train_loss]
    if len(rows) < 3:
        return OverfitMark(None, "too few epochs to tell (3 are needed)")
    best = min(range(len(rows)), key=lambda i: rows[i].val_loss)
    after = rows[best : best + 3]
    if len(after) == 3:
        rising = after[0].val_loss < after[1].val_loss < after[2].val_loss
        if rising and after[2].train_loss < after[0].train_loss:
            return OverfitMark(after[0].epoch, f"overfitting starts after epoch {after[0].epoch}")
    return OverfitMark(None, "no overfitting: the validation loss has not turned up for 2 epochs")


def gap_figure(epochs: Sequence[EpochEvent]) -> go.Figure:
    """Train and validation loss with the gap between them shaded; the overfitting start marked."""
    rows = [e for e in latest_pass(epochs, "epoch") if e.val_loss is not None]
    if not rows:
        return message_figure("waiting for the first epoch")
    x = [e.epoch for e in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "gap: validation − train loss"))
    fig.add_trace(go.Scatter(x=x, y=[e.train_loss for e in rows], name="train",
                             line=dict(color=TRAIN_COLOR)), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=[e.val_loss for e in rows], name="validation", fill="tonexty",
                             line=dict(color=VAL_COLOR)), row=1, col=1)  # fmt: skip
    gap = [None if e.train_loss is None else e.val_loss - e.train_loss for e in rows]
    fig.add_trace(go.Bar(x=x, y=gap, name="gap", marker_color="#9ca3af"), row=1, col=2)
    mark = overfit_start(rows)
    if mark.epoch is not None:
        for col in (1, 2):
            fig.add_vline(x=mark.epoch, line_dash="dash", line_color="#b91c1c", row=1, col=col)
        fig.add_annotation(x=mark.epoch, y=1, yref="paper", text="overfitting starts",
                           showarrow=False, font=dict(color="#b91c1c"), yanchor="bottom")  # fmt: skip
    fig.update_xaxes(title="epoch", dtick=1 if len(x) <= 12 else None)
    fig.update_layout(template=TEMPLATE, height=320, margin=dict(MARGIN, t=40),
                      hovermode="x unified")  # fmt: skip
    return fig


def norms_figure(norms: Sequence[NormsEvent], which: str = "weight") -> go.Figure:
    """One line per layer of its `which` ("weight" or "grad") L2 norm over steps, log y axis."""
    norms = latest_pass(norms, "step")
    if not norms:
        return message_figure("no norms recorded (an older run, or watch.norms_every = 0)")
    layers = list(dict.fromkeys(name for e in norms for name in e.layers))
    fig = go.Figure()
    for name in layers:
        points = [(e.step, getattr(e, which)[e.layers.index(name)]) for e in norms
                  if name in e.layers]  # fmt: skip
        points = [(s, v) for s, v in points if v is not None and v > 0]
        if points:
            fig.add_trace(go.Scatter(x=[s for s, _ in points], y=[v for _, v in points],
                                     name=name, mode="lines"))  # fmt: skip
    title = "weight L2 norm" if which == "weight" else "gradient L2 norm"
    fig.update_layout(template=TEMPLATE, height=340, margin=MARGIN, xaxis_title="step",
                      yaxis_title=title, yaxis_type="log", hovermode="x unified")  # fmt: skip
    return fig


def lr_finder_figure(finding: object) -> go.Figure:
    """The LR finder's loss (raw, faint; smoothed, bold) against the rate, log x; the suggestion
    as a dashed line."""
    lrs = list(getattr(finding, "lrs", []))
    if not lrs:
        return message_figure("no steps were taken")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=lrs, y=finding.losses, mode="lines", name="loss", opacity=0.35,
                             line=dict(width=1, color=TRAIN_COLOR)))  # fmt: skip
    fig.add_trace(go.Scatter(x=lrs, y=finding.smoothed, mode="lines", name="smoothed",
                             line=dict(width=2.5, color=TRAIN_COLOR)))  # fmt: skip
    if finding.suggestion:
        fig.add_vline(x=finding.suggestion, line_dash="dash", line_color=VAL_COLOR)
        fig.add_annotation(x=math.log10(finding.suggestion), y=1, yref="paper", showarrow=False,
                           text=f"suggested {finding.suggestion:.2g}", yanchor="bottom",
                           font=dict(color=VAL_COLOR))  # fmt: skip
    top = min(max(finding.smoothed) * 1.05, 4 * min(finding.smoothed) + 0.5)
    fig.update_layout(template=TEMPLATE, height=320, margin=dict(MARGIN, t=40), xaxis_type="log",
                      xaxis_title="learning rate (log scale)", yaxis_title="training loss",
                      yaxis_range=[0, top], showlegend=False)  # fmt: skip
    return fig
