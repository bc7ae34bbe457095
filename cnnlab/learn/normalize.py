"""Lesson 8, batch-norm and dropout on a batch of activations, as `torch.nn.BatchNorm2d` and
`torch.nn.Dropout` compute them in train and eval mode, and the lesson's histograms.

Activations are float64 (B, H, W): one channel of a conv layer over a batch of B images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnlab.learn.convolution import conv2d
from cnnlab.learn.figures import layout
from cnnlab.plots import TRAIN_COLOR, VAL_COLOR

EPS = 1e-5  # torch's BatchNorm default
MOMENTUM = 0.1  # torch's BatchNorm default: running = (1 - m) running + m batch


def channel_batch(images: np.ndarray, kernel: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """Gray images (B, H, W) in [0, 1] through one conv kernel, times `scale` plus `shift`:
    the activations a layer might hand to the next, (B, H', W'). `scale`/`shift` stand for
    the drift of a layer's outputs while the layers before it learn."""
    return np.stack([conv2d(img, kernel) for img in images]) * scale + shift


@dataclass(frozen=True, eq=False)
class BatchNormStats:
    running_mean: float  # starts at 0
    running_var: float  # starts at 1
    batches: int  # training batches seen


def batch_norm_train(
    x: np.ndarray, gamma: float = 1.0, beta: float = 0.0, eps: float = EPS
) -> tuple[np.ndarray, float, float]:
    """Train mode: normalise with this batch's mean and (biased) variance over all of x.
    Returns (gamma * x_hat + beta, batch mean, unbiased batch variance for the running average)."""
    mean, var = float(x.mean()), float(x.var())
    n = x.size
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, mean, var * n / max(1, n - 1)


def update_running(
    stats: BatchNormStats, batch_mean: float, batch_var: float, momentum: float = MOMENTUM
) -> BatchNormStats:
    """One training batch's contribution to the running averages eval mode uses."""
    return BatchNormStats(
        (1 - momentum) * stats.running_mean + momentum * batch_mean,
        (1 - momentum) * stats.running_var + momentum * batch_var,
        stats.batches + 1,
    )


def batch_norm_eval(
    x: np.ndarray, stats: BatchNormStats, gamma: float = 1.0, beta: float = 0.0, eps: float = EPS
) -> np.ndarray:
    """Eval mode: normalise with the running averages, whatever the batch holds."""
    return gamma * (x - stats.running_mean) / np.sqrt(stats.running_var + eps) + beta


def running_stats(batches: Sequence[np.ndarray], momentum: float = MOMENTUM) -> BatchNormStats:
    """The running averages after training on `batches` in order (fresh layer: mean 0, var 1)."""
    stats = BatchNormStats(0.0, 1.0, 0)
    for batch in batches:
        _, mean, var = batch_norm_train(batch)
        stats = update_running(stats, mean, var, momentum)
    return stats


def dropout(x: np.ndarray, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Train mode: each value zeroed with probability p, the rest divided by 1 - p (so the
    expected value is unchanged). Returns (output, mask of kept values). Eval mode = x itself."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    keep = rng.random(x.shape) >= p
    return np.where(keep, x / (1 - p), 0.0), keep


# -- figures -----------------------------------------------------------------------------------


def histograms_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]], bins: int = 40
) -> go.Figure:
    """Side by side, one per (title, before, after): the two value histograms overlaid."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _, _ in panels])
    for i, (_, before, after) in enumerate(panels, start=1):
        lo = float(min(before.min(), after.min()))
        hi = float(max(before.max(), after.max()))
        size = (hi - lo) / bins or 1.0
        for name, values, color in (("before", before, TRAIN_COLOR), ("after", after, VAL_COLOR)):
            fig.add_trace(
                go.Histogram(
                    x=values.reshape(-1), name=name, marker_color=color, opacity=0.6,
                    xbins=dict(start=lo, end=hi + size, size=size), showlegend=i == 1,
                    histnorm="percent", hovertemplate="%{x}: %{y:.1f} %<extra></extra>",
                ),
                row=1, col=i,
            )  # fmt: skip
        fig.update_xaxes(title="value", row=1, col=i)
    fig.update_yaxes(title="% of values", row=1, col=1)
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", y=-0.3, x=0))
    return layout(fig, 360, top=40, margin_b=60)


def summary(values: np.ndarray) -> str:
    """ "mean 0.12, std 1.03, 0 % zero" of a batch of values."""
    return f"mean {values.mean():.2f}, std {values.std():.2f}, {(values == 0).mean():.0%} exactly 0"
