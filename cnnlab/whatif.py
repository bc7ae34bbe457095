"""What if the image were rotated, shifted, blurred, noisier, darker, or partly covered?

The lesson "what does the network rely on": `apply_whatif` changes the model input (uint8
(C, H, W)) by a frozen set of knobs, `whatif_predict` re-predicts it, and `before_after_bars`
draws how the probabilities moved. All tensor ops on one small image: a few milliseconds
(bench/bench_whatif.py), so the Classify page re-predicts on every slider move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.evaluate import predict_probs
from cnnlab.figure_style import MARGIN, TEMPLATE, TRAIN_COLOR, VAL_COLOR
from cnnlab.text import html_escape


@dataclass(frozen=True)
class WhatIf:
    """Changes to the model input; the defaults change nothing."""

    rotate: float = 0.0  # degrees, counter-clockwise
    shift_x: float = 0.0  # pixels of the model input, + = right
    shift_y: float = 0.0  # pixels of the model input, + = down
    scale: float = 1.0  # zoom factor about the centre (> 1 = bigger)
    blur: float = 0.0  # Gaussian blur sigma, pixels of the model input (0 = none)
    noise: float = 0.0  # std of added Gaussian noise, grey levels of 0..255
    brightness: float = 0.0  # added to every pixel, grey levels (-255..255)
    patch: int = 0  # side of a square occlusion patch, pixels (0 = none)
    patch_x: float = 0.5  # patch centre, share of the width (0 = left edge, 1 = right edge)
    patch_y: float = 0.5  # patch centre, share of the height (0 = top, 1 = bottom)
    seed: int = 0  # noise seed: the same knobs always give the same picture

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.blur < 0 or self.noise < 0 or self.patch < 0:
            raise ValueError("blur, noise and patch must be >= 0")


def _geometry(x: torch.Tensor, knobs: WhatIf) -> torch.Tensor:
    """float (C, H, W): rotated, scaled and shifted; what comes in from outside is 0."""
    c, h, w = x.shape
    t = math.radians(knobs.rotate)
    cos, sin = math.cos(t) / knobs.scale, math.sin(t) / knobs.scale
    # output -> input sampling in normalised coordinates (-1..1): inverse rotation and scale,
    # after undoing the shift (2 / side per pixel); y points down, so + angle turns counter-clockwise
    tx, ty = 2 * knobs.shift_x / w, 2 * knobs.shift_y / h
    theta = torch.tensor(
        [
            [cos, -sin * h / w, -(cos * tx - sin * h / w * ty)],
            [sin * w / h, cos, -(sin * w / h * tx + cos * ty)],
        ],
        dtype=torch.float32,
    )[None]  # (1, 2, 3)
    grid = F.affine_grid(theta, [1, c, h, w], align_corners=False)
    return F.grid_sample(x[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[
        0
    ]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """float (C, H, W) convolved with a separable Gaussian of `sigma` px (reflect at the edges)."""
    radius = max(1, math.ceil(3 * sigma))
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(r**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[0]
    y = F.pad(x[None], (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)[0]


def apply_whatif(x: torch.Tensor, knobs: WhatIf, fill: Sequence[float] = (0.0,)) -> torch.Tensor:
    """uint8 (C, H, W) `x` changed by `knobs` (a new tensor; `x` is not modified).

    `fill`: the background level per channel (or one for all), grey levels 0..255, shown where
    the image moved away and under the occlusion patch (MNIST: 0, black; photos: the train mean).
    """
    c, h, w = x.shape
    bg = torch.as_tensor(fill, dtype=torch.float32).reshape(-1, 1, 1).expand(c, 1, 1)
    y = x.float() - bg  # the background is 0 while moving, so it stays the background
    if knobs.rotate or knobs.shift_x or knobs.shift_y or knobs.scale != 1:
        y = _geometry(y, knobs)
    if knobs.blur > 0:
        y = _blur(y, knobs.blur)
    y = y + bg + knobs.brightness
    if knobs.noise > 0:
        gen = torch.Generator().manual_seed(knobs.seed)
        y = y + knobs.noise * torch.randn(y.shape, generator=gen)
    if knobs.patch > 0:
        cy, cx = round(knobs.patch_y * h), round(knobs.patch_x * w)
        half = knobs.patch / 2
        top, left = max(0, math.floor(cy - half)), max(0, math.floor(cx - half))
        bottom, right = min(h, math.floor(cy + half)), min(w, math.floor(cx + half))
        y[:, top:bottom, left:right] = bg
    return y.round().clamp(0, 255).to(torch.uint8)


@dataclass(frozen=True, eq=False)
class WhatIfResult:
    x: torch.Tensor  # uint8 (C, H, W): the changed model input
    before: np.ndarray  # float32 (K,) probabilities of the unchanged input
    after: np.ndarray  # float32 (K,) probabilities of the changed input


def whatif_predict(
    model: nn.Module, x: torch.Tensor, knobs: WhatIf, fill: Sequence[float] = (0.0,)
) -> WhatIfResult:
    """Probabilities of `x` (uint8 (C, H, W)) before and after `knobs`, in one forward pass."""
    changed = apply_whatif(x, knobs, fill)
    probs = predict_probs(model, torch.stack([x, changed]))  # (2, K)
    return WhatIfResult(changed, probs[0], probs[1])


def before_after_bars(
    class_names: Sequence[str], before: np.ndarray, after: np.ndarray, top: int = 5
) -> go.Figure:
    """Grouped horizontal bars: the `top` classes (most likely before or after) as the image was
    and after the change, most likely first."""
    order = np.argsort(-np.maximum(before, after), kind="stable")[:top]
    names = [html_escape(class_names[i]) for i in order]
    fig = go.Figure()
    for label, probs, colour in (("before", before, TRAIN_COLOR), ("after", after, VAL_COLOR)):
        values = [float(probs[i]) for i in order]
        fig.add_trace(
            go.Bar(
                x=values,
                y=names,
                name=label,
                orientation="h",
                marker_color=colour,
                text=[f"{v:.1%}" for v in values],
                textposition="auto",
                hovertemplate=f"{label} %{{y}}: %{{x:.2%}}<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        barmode="group",
        height=50 * len(names) + 80,
        margin=MARGIN,
        legend=dict(orientation="h", y=1.12, x=0),
        xaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
        yaxis=dict(type="category", autorange="reversed"),
    )
    return fig
