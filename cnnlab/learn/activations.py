"""Lesson 2, activations: the usual nonlinearities in numpy, their formulas, and their curves."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
from scipy.special import erf

from cnnlab.learn.figures import layout
from cnnlab.plots import VAL_COLOR

LEAKY_SLOPE = 0.1  # leaky ReLU's slope for x < 0 (PyTorch's default is 0.01: too flat to see)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def leaky_relu(x: np.ndarray, slope: float = LEAKY_SLOPE) -> np.ndarray:
    return np.where(x >= 0, x, slope * x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(
        -np.logaddexp(0.0, -np.asarray(x, dtype=np.float64))
    )  # 1 / (1 + e^-x), no overflow


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def gelu(x: np.ndarray) -> np.ndarray:
    """x * P(X <= x) for a standard normal X (the exact form, as torch's default)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ReLU": relu,
    "leaky ReLU": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "GELU": gelu,
}
ACTIVATION_FORMULAS = {  # LaTeX, shown under the curves
    "ReLU": r"\mathrm{ReLU}(x) = \max(0, x)",
    "leaky ReLU": rf"\mathrm{{LeakyReLU}}(x) = \max({LEAKY_SLOPE}\,x,\ x)",
    "sigmoid": r"\sigma(x) = \frac{1}{1 + e^{-x}}",
    "tanh": r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
    "GELU": r"\mathrm{GELU}(x) = x \cdot \Phi(x)",
}


def zero_share(x: np.ndarray) -> float:
    """Share of values that are exactly 0 (after ReLU: the 'switched off' units)."""
    x = np.asarray(x)
    return float((x == 0).mean()) if x.size else 0.0


def activation_curves(selected: str, x_range: float = 4.0) -> go.Figure:
    """All activation functions on [-x_range, x_range]; `selected` bold, the others faint."""
    x = np.linspace(-x_range, x_range, 401)
    fig = go.Figure()
    for name, fn in ACTIVATIONS.items():
        chosen = name == selected
        fig.add_trace(
            go.Scatter(
                x=x,
                y=fn(x),
                name=name,
                mode="lines",
                line=dict(width=5 if chosen else 2, color=VAL_COLOR if chosen else "#b0b7c3"),
                opacity=1.0 if chosen else 0.8,
            )
        )
    fig.update_xaxes(title="input x", zeroline=True, zerolinecolor="#444")
    fig.update_yaxes(title="output", zeroline=True, zerolinecolor="#444", range=[-1.5, x_range])
    return layout(
        fig,
        340,
        top=40,
        showlegend=False,
        title=dict(text=f"{selected} (the others in gray)", x=0.5, xanchor="center"),
    )
