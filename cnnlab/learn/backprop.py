"""Lesson 7, backpropagation through a tiny CNN on one small image, written out by hand:

    x (8, 8) -> conv 3x3 (+ b) -> z (6, 6) -> ReLU -> a (6, 6) -> max pool 2x2 -> p (3, 3)
      -> flatten (9,) -> dense W (K, 9) (+ c) -> logits (K,) -> softmax -> cross-entropy L

`forward` keeps every intermediate, `backward` applies the chain rule layer by layer from the
loss back to the input, `sgd_step` moves every weight against its gradient. tests/test_learn2.py
checks each gradient and the updated weights against `torch.autograd` + `torch.optim.SGD`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import PIL.Image
import plotly.graph_objects as go

from cnnlab.learn.convolution import conv2d, pad
from cnnlab.learn.figures import dims, layout, maps_figure
from cnnlab.learn.pooling import pool2d
from cnnlab.learn.softmax_loss import cross_entropy, softmax
from cnnlab.plots import TRAIN_COLOR, VAL_COLOR
from cnnlab.text import html_escape

SIDE = 8  # the tiny CNN's input side, pixels: small enough to show every number
KERNEL = 3  # conv kernel side; the conv map is SIDE - KERNEL + 1 = 6
POOL = 2  # max-pool window and stride; the pooled map is 3x3, so 9 features


@dataclass(frozen=True, eq=False)
class TinyWeights:
    """Every learnable number of the tiny CNN."""

    kernel: np.ndarray  # float64 (3, 3): the conv kernel
    bias: float  # the conv's bias, added to every output
    dense: np.ndarray  # float64 (K, 9): one row of weights per class
    dense_bias: np.ndarray  # float64 (K,)

    @property
    def num_classes(self) -> int:
        return int(self.dense.shape[0])


@dataclass(frozen=True, eq=False)
class Forward:
    """One forward pass: every layer's output, for the figures and for `backward`."""

    x: np.ndarray  # (8, 8) input
    z: np.ndarray  # (6, 6) conv output (before ReLU)
    a: np.ndarray  # (6, 6) after ReLU
    p: np.ndarray  # (3, 3) after max pool
    logits: np.ndarray  # (K,)
    probs: np.ndarray  # (K,) softmax
    target: int  # the true class
    loss: float  # cross-entropy, nats


@dataclass(frozen=True, eq=False)
class Gradients:
    """dL/d(everything), same shapes as what they are the gradient of."""

    logits: np.ndarray  # (K,) = probs - one_hot(target)
    dense: np.ndarray  # (K, 9) = outer(dL/dlogits, p)
    dense_bias: np.ndarray  # (K,)
    p: np.ndarray  # (3, 3) = W^T dL/dlogits
    a: np.ndarray  # (6, 6): each pooled gradient routed to its window's maximum, 0 elsewhere
    z: np.ndarray  # (6, 6) = dL/da where z > 0 (ReLU's slope is 1 there, 0 elsewhere)
    kernel: np.ndarray  # (3, 3) = x correlated with dL/dz
    bias: float  # sum of dL/dz
    x: np.ndarray  # (8, 8) = dL/dz "full"-convolved with the flipped kernel


def small_image(gray: np.ndarray, side: int = SIDE) -> np.ndarray:
    """Any gray image (H, W) in [0, 1] -> (side, side) in [0, 1] by area averaging (PIL BOX)."""
    img = PIL.Image.fromarray(np.asarray(gray, dtype=np.float32), mode="F")
    return np.asarray(img.resize((side, side), PIL.Image.Resampling.BOX), dtype=np.float64)


def start_weights(num_classes: int, seed: int = 0) -> TinyWeights:
    """A vertical-edge kernel and a small random dense layer (Normal(0, 1/3)), seeded."""
    rng = np.random.default_rng(seed)
    kernel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4
    dense = np.round(rng.normal(0.0, 1 / 3, size=(num_classes, 9)), 2)
    return TinyWeights(kernel, 0.0, dense, np.zeros(num_classes))


def max_mask(a: np.ndarray, size: int = POOL) -> np.ndarray:
    """1.0 at the (first, row-major) maximum of each size x size window of `a` (H, W), else 0:
    where max pooling took its value from, so where its gradient goes back to."""
    h, w = (a.shape[0] // size) * size, (a.shape[1] // size) * size
    mask = np.zeros_like(a, dtype=np.float64)
    for i in range(0, h, size):
        for j in range(0, w, size):
            window = a[i : i + size, j : j + size]
            r, c = np.unravel_index(int(np.argmax(window)), window.shape)
            mask[i + r, j + c] = 1.0
    return mask


def forward(x: np.ndarray, weights: TinyWeights, target: int) -> Forward:
    """The tiny CNN on `x` (8, 8) with the loss for class `target`."""
    if not 0 <= target < weights.num_classes:
        raise ValueError(f"target must be a class 0..{weights.num_classes - 1}, got {target}")
    z = conv2d(x, weights.kernel) + weights.bias  # (6, 6)
    a = np.maximum(z, 0.0)
    p = pool2d(a, "max", POOL)  # (3, 3)
    logits = weights.dense @ p.reshape(-1) + weights.dense_bias  # (K,)
    probs = softmax(logits)
    return Forward(x, z, a, p, logits, probs, target, cross_entropy(logits, target))


def backward(f: Forward, weights: TinyWeights) -> Gradients:
    """The chain rule, from the loss back to the input, one layer at a time."""
    g_logits = f.probs.copy()
    g_logits[f.target] -= 1.0  # softmax + cross-entropy together: p - y
    g_dense = np.outer(g_logits, f.p.reshape(-1))  # (K, 9)
    g_p = (weights.dense.T @ g_logits).reshape(f.p.shape)  # (3, 3)
    up = np.kron(g_p, np.ones((POOL, POOL)))  # each pooled gradient copied over its window
    g_a = np.zeros_like(f.a)
    g_a[: up.shape[0], : up.shape[1]] = up
    g_a *= max_mask(f.a)  # ... but kept only at the window's maximum
    g_z = g_a * (f.z > 0)  # ReLU passes the gradient where it was active
    g_kernel = conv2d(f.x, g_z)  # (3, 3): each weight saw the input under it at every position
    k = weights.kernel.shape[0]
    g_x = conv2d(pad(g_z, k - 1), weights.kernel[::-1, ::-1])  # (8, 8)
    return Gradients(
        g_logits, g_dense, g_logits.copy(), g_p, g_a, g_z, g_kernel, float(g_z.sum()), g_x
    )


def sgd_step(weights: TinyWeights, grads: Gradients, lr: float) -> TinyWeights:
    """w <- w - lr * dL/dw for every weight (plain SGD, as torch.optim.SGD without momentum)."""
    return TinyWeights(
        weights.kernel - lr * grads.kernel,
        weights.bias - lr * grads.bias,
        weights.dense - lr * grads.dense,
        weights.dense_bias - lr * grads.dense_bias,
    )


@dataclass(frozen=True, eq=False)
class Step:
    """One training step on one image: before, the gradients, after."""

    weights: TinyWeights  # before the step
    before: Forward
    grads: Gradients
    weights_after: TinyWeights
    after: Forward  # the same image through the updated weights


def training_step(x: np.ndarray, weights: TinyWeights, target: int, lr: float) -> Step:
    """Forward, backward, update, and forward again to see the loss move."""
    before = forward(x, weights, target)
    grads = backward(before, weights)
    updated = sgd_step(weights, grads, lr)
    return Step(weights, before, grads, updated, forward(x, updated, target))


# -- figures -----------------------------------------------------------------------------------


def forward_figure(f: Forward) -> go.Figure:
    """The forward pass left to right: input, conv, ReLU, max pool."""
    return maps_figure(
        [
            (f"input {dims(f.x)}", f.x),
            (f"conv {dims(f.z)}", f.z),
            (f"ReLU {dims(f.a)}", f.a),
            (f"max pool {dims(f.p)}", f.p),
        ],
        image_first=True,
    )


def backward_figure(g: Gradients) -> go.Figure:
    """The gradient of the loss at each layer, in the forward figure's columns (each under its
    layer): red = raising this number raises the loss, blue = lowers it, white = no effect."""
    return maps_figure(
        [("∂L/∂input", g.x), ("∂L/∂conv", g.z), ("∂L/∂ReLU", g.a), ("∂L/∂pool", g.p)]
    )


def output_figure(f: Forward, g: Gradients, class_names: Sequence[str]) -> go.Figure:
    """Per class: the probability, and dL/dlogit = probability - (1 for the true class)."""
    names = [html_escape(c) for c in class_names]
    fig = go.Figure()
    fig.add_bar(x=names, y=f.probs, name="probability", marker_color=TRAIN_COLOR)
    fig.add_bar(x=names, y=g.logits, name="∂L/∂logit", marker_color=VAL_COLOR)
    fig.update_xaxes(type="category")
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.15, x=0))
    return layout(fig, 300, top=40)


def weights_figure(before: np.ndarray, grad: np.ndarray, after: np.ndarray, what: str) -> go.Figure:
    """A weight array before the step, its gradient, and after the step (each its own scale)."""
    return maps_figure(
        [(f"{what} before", before), (f"∂L/∂{what}", grad), (f"{what} after", after)]
    )
