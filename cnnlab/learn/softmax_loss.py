"""Lesson 4, from feature maps to classes: a dense layer, softmax with a temperature and
cross-entropy, and their figures (features x weights -> logits, probability bars)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnlab.learn.figures import SIGNED, color_limit, layout, two_decimals
from cnnlab.plots import TRAIN_COLOR, VAL_COLOR
from cnnlab.text import html_escape


def dense_weights(
    num_inputs: int, num_outputs: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """An untrained dense layer: W (K, N) ~ Normal(0, 1/N) and b (K,) = 0, seeded. The 1/N variance
    keeps the logits around 1 whatever N is (what training starts from, roughly)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 1.0 / np.sqrt(max(1, num_inputs)), size=(num_outputs, num_inputs))
    return w, np.zeros(num_outputs)


def dense(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flatten x (any shape, N values) and apply W (K, N), b (K,) -> logits (K,)."""
    return w @ np.asarray(x, dtype=np.float64).reshape(-1) + b


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """p_i = exp(z_i / T) / sum_j exp(z_j / T), float64 (K,). Low T sharpens, high T flattens."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max()  # same result, no overflow
    e = np.exp(z)
    return e / e.sum()


def cross_entropy(logits: np.ndarray, target: int, temperature: float = 1.0) -> float:
    """-log p_target with p = softmax(logits / T), computed as logsumexp(z) - z_target (stable)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    top = z.max()
    return float(top + np.log(np.exp(z - top).sum()) - z[target])


def latex_text(text: str) -> str:
    """`text` for LaTeX's \\text{...}: the characters, never commands (a class name is user data)."""
    specials = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&"}
    specials |= {"#": r"\#", "%": r"\%", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
    return "".join(specials.get(ch, ch) for ch in text)


def cross_entropy_formula(class_name: str, p_true: float, loss: float) -> str:
    """LaTeX of L = -log p_true with the numbers filled in (3 decimals)."""
    return (
        rf"L = -\log p_{{\text{{{latex_text(class_name)}}}}} = -\log {p_true:.3f} "
        rf"= \mathbf{{{loss:.3f}}}"
    )


def dense_figure(
    features: np.ndarray, weights: np.ndarray, logits: np.ndarray, class_names: Sequence[str]
) -> go.Figure:
    """The flattened feature map (1, N) above the dense weights (K, N), and each class's logit =
    the sum of its weight row times the feature row, written at the end of the row."""
    x = np.asarray(features, dtype=np.float64).reshape(1, -1)  # (1, N)
    n, k = x.shape[1], len(class_names)
    names = [html_escape(c) for c in class_names]
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.2,
        row_heights=[1, k],
        subplot_titles=[
            f"flattened feature map: {n} numbers",
            f"dense layer: {k} × {n} weights (random, untrained) → logits",
        ],
    )
    limit = color_limit(x)
    fig.add_trace(
        go.Heatmap(
            z=x,
            colorscale=SIGNED,
            zmin=-limit,
            zmax=limit,
            showscale=False,
            hovertemplate="feature %{x}: %{z:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    limit = color_limit(weights)
    fig.add_trace(
        go.Heatmap(
            z=weights,
            y=names,
            colorscale=SIGNED,
            zmin=-limit,
            zmax=limit,
            showscale=False,
            hovertemplate="%{y}, weight %{x}: %{z:.2f}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    for name, logit in zip(names, logits, strict=True):
        fig.add_annotation(
            x=1.01,
            xref="paper",
            xanchor="left",
            y=name,
            yref="y2",
            text=f"→ <b>{two_decimals(float(logit))}</b>",
            showarrow=False,
        )
    fig.update_yaxes(visible=False, row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=2, col=1)
    fig.update_xaxes(title="feature number", row=2, col=1)
    return layout(fig, 150 + 40 * k, margin_r=80)


def probability_figure(class_names: Sequence[str], probs: np.ndarray, target: int) -> go.Figure:
    """Vertical probability bars, the true class in orange."""
    colors = [VAL_COLOR if i == target else TRAIN_COLOR for i in range(len(class_names))]
    fig = go.Figure(
        go.Bar(
            x=[html_escape(c) for c in class_names],  # plotly reads labels as HTML
            y=probs,
            marker_color=colors,
            text=[f"{p:.1%}" for p in probs],
            textposition="outside",
            textfont=dict(size=18),
            hovertemplate="%{x}: %{y:.2%}<extra></extra>",
        )
    )
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title="probability")
    fig.update_xaxes(type="category")
    return layout(fig, 360, top=20)
