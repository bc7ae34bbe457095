"""Training curves from a run's events: per-epoch loss/accuracy, batch loss, runs compared.

Inputs are event dataclasses (`cnnlab.events.EpochEvent` / `BatchEvent`); a resumed run's
events are reduced to their latest pass with `events.latest_pass` (callers usually pass a run's
`History`, which already is). Accuracy axes span [0, 1] (0-100%), whatever the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnlab.events import BatchEvent, EpochEvent, latest_pass
from cnnlab.figure_style import (
    ACCURACY_RANGE,
    MARGIN,
    TEMPLATE,
    TRAIN_COLOR,
    VAL_COLOR,
    message_figure,
)


def _values(events: Sequence[object], key: str) -> list[float | None]:
    return [getattr(e, key) for e in events]


def training_curves(epochs: Sequence[EpochEvent]) -> go.Figure:
    """Loss and accuracy per epoch (train and val), side by side, from epoch events."""
    epochs = latest_pass(epochs, "epoch")
    if not epochs:
        return message_figure("waiting for the first epoch")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    x = _values(epochs, "epoch")
    for col, metric in ((1, "loss"), (2, "acc")):
        for split, color in (("train", TRAIN_COLOR), ("val", VAL_COLOR)):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=_values(epochs, f"{split}_{metric}"),
                    name=split,
                    legendgroup=split,
                    showlegend=col == 1,
                    mode="lines+markers",
                    line=dict(color=color),
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title="epoch", dtick=1 if len(x) <= 12 else None)  # whole epochs
    fig.update_yaxes(tickformat=".0%", range=ACCURACY_RANGE, row=1, col=2)
    fig.update_layout(
        template=TEMPLATE, height=320, margin=dict(MARGIN, t=40), hovermode="x unified"
    )
    return fig


def smooth(values: Sequence[float], weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard-style), float64 (N,).

    pandas' `ewm(alpha=1 - weight, adjust=True)` is exactly that: each point is the average of
    all points so far, weighted by `weight ** age` and normalised by the weights' sum.
    """
    series = pd.Series(np.asarray(values, dtype=np.float64))
    return series.ewm(alpha=1.0 - weight, adjust=True).mean().to_numpy()


def batch_loss_curve(batches: Sequence[BatchEvent], smoothing: float = 0.9) -> go.Figure:
    """Training loss of each reported batch vs the global step, raw and smoothed."""
    batches = [b for b in latest_pass(batches, "step") if b.loss is not None]
    if not batches:
        return message_figure("waiting for the first batch")
    steps, losses = _values(batches, "step"), _values(batches, "loss")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=losses,
            name="loss",
            mode="lines",
            line=dict(width=1, color=TRAIN_COLOR),
            opacity=0.35,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=smooth(losses, smoothing),
            name="smoothed",
            mode="lines",
            line=dict(width=2, color=TRAIN_COLOR),
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        height=280,
        margin=MARGIN,
        xaxis_title="step",
        yaxis_title="loss",
        legend=dict(orientation="h", y=1.1),
    )
    return fig


def compare_curves(runs: dict[str, Sequence[EpochEvent]], metric: str) -> go.Figure:
    """One line per run of `metric` (an epoch-event field such as "val_acc") vs epoch."""
    fig = go.Figure()
    for name, epochs in runs.items():
        epochs = [e for e in latest_pass(epochs, "epoch") if getattr(e, metric) is not None]
        if epochs:
            fig.add_trace(
                go.Scatter(
                    x=_values(epochs, "epoch"),
                    y=_values(epochs, metric),
                    name=name,
                    mode="lines+markers",
                )
            )
    if not fig.data:
        return message_figure(f"no {metric.replace('_', ' ')} recorded yet")
    accuracy = metric.endswith("acc")
    fig.update_layout(
        template=TEMPLATE,
        height=340,
        margin=MARGIN,
        xaxis_title="epoch",
        yaxis_title=metric.replace("_", " "),
        yaxis_tickformat=".0%" if accuracy else None,
        yaxis_range=ACCURACY_RANGE if accuracy else None,
        hovermode="x unified",
    )
    return fig
