"""Lesson 1, convolution: classic kernels, the output-size formula, the convolution itself and
one multiply-add step of it, and their figures (the kernel sliding over a patch, window x kernel).

"Convolution" is what deep learning means by it (cross-correlation, the kernel is not flipped),
exactly like `torch.nn.Conv2d`. Images are float arrays (H, W) in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from numpy.lib.stride_tricks import sliding_window_view
from plotly.subplots import make_subplots

from cnnlab.learn.figures import (
    GRAY,
    SIGNED,
    cell_text,
    color_limit,
    image_axes,
    layout,
    map_trace,
    outline_cells,
    two_decimals,
)

KERNEL_NOTES = {  # name -> what it does, in a few words (shown next to the choice)
    "identity": "copies the image: one 1 in the middle",
    "blur": "a weighted average of the neighbours (Gaussian)",
    "sharpen": "the pixel minus its blurred neighbours, added back",
    "sobel x": "responds to vertical edges (left-right changes)",
    "sobel y": "responds to horizontal edges (top-bottom changes)",
    "laplacian": "responds to edges in every direction",
    "emboss": "light from the top left: edges look raised",
}
KERNEL_NAMES = tuple(KERNEL_NOTES)


def kernel(name: str, size: int = 3) -> np.ndarray:
    """A classic image-processing kernel, float64 (size, size), size 3 or 5."""
    if size not in (3, 5):
        raise ValueError(f"kernel size must be 3 or 5, got {size}")
    if name not in KERNEL_NOTES:
        raise KeyError(f"unknown kernel {name!r}; choose one of: {', '.join(KERNEL_NAMES)}")
    c = size // 2
    identity = np.zeros((size, size))
    identity[c, c] = 1.0
    smooth = np.array([1.0, 2, 1]) if size == 3 else np.array([1.0, 4, 6, 4, 1])  # binomial
    slope = np.array([-1.0, 0, 1]) if size == 3 else np.array([-1.0, -2, 0, 2, 1])  # derivative
    blur = np.outer(smooth, smooth) / smooth.sum() ** 2  # sums to 1
    if name == "identity":
        return identity
    if name == "blur":
        return blur
    if name == "sharpen":
        if size == 3:
            return np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
        return 2 * identity - blur  # unsharp masking
    if name == "sobel x":
        return np.outer(smooth, slope)
    if name == "sobel y":
        return np.outer(slope, smooth)
    if name == "laplacian":
        if size == 3:
            return np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
        return np.array(  # a Laplacian of Gaussian, same signs as the 3x3 one, sums to 0
            [
                [0.0, 0, 1, 0, 0],
                [0, 1, 2, 1, 0],
                [1, 2, -16, 2, 1],
                [0, 1, 2, 1, 0],
                [0, 0, 1, 0, 0],
            ]
        )
    # emboss: a ramp from -2 (top left) to +2 (bottom right), 1 in the middle
    rows, cols = np.indices((size, size))
    out = (rows + cols - 2.0 * c) / c
    out[c, c] = 1.0
    return out


def output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """out = floor((n + 2p - k) / s) + 1 along one side; < 1 when the kernel does not fit."""
    return (n + 2 * padding - kernel_size) // stride + 1


def size_formula(shape: tuple[int, ...], k: int, s: int, p: int | None) -> str:
    """LaTeX of out = floor((n + 2p - k) / s) + 1 with the numbers filled in, per side when the
    map (H, W) is not square; p=None: pooling, no padding term."""

    def filled(n: int) -> str:
        top = f"{n} - {k}" if p is None else rf"{n} + 2 \cdot {p} - {k}"
        out = output_size(n, k, s, p or 0)
        return rf"\left\lfloor \frac{{{top}}}{{{s}}} \right\rfloor + 1 = \mathbf{{{out}}}"

    general = r"\text{out} = \left\lfloor \frac{n - k}{s} \right\rfloor + 1"
    if p is not None:
        general = r"\text{out} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1"
    if shape[0] == shape[1]:
        return f"{general} = {filled(shape[0])}"
    return (
        rf"{general} \qquad \text{{height: }} {filled(shape[0])}"
        rf" \qquad \text{{width: }} {filled(shape[1])}"
    )


def pad(image: np.ndarray, padding: int) -> np.ndarray:
    """(H, W) -> (H + 2p, W + 2p) with a border of zeros."""
    return np.pad(image, padding, mode="constant", constant_values=0.0)


def conv2d(image: np.ndarray, weights: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Slide `weights` (kH, kW) over `image` (H, W): every output is the sum of the elementwise
    products of the kernel and the window under it. Returns (H', W') as in `output_size`."""
    if stride < 1 or padding < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride} and {padding}")
    x = pad(np.asarray(image, dtype=np.float64), padding)  # (H + 2p, W + 2p)
    k = np.asarray(weights, dtype=np.float64)
    if k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
        raise ValueError(
            f"a {k.shape[0]}x{k.shape[1]} kernel does not fit in a {x.shape[0]}x{x.shape[1]} "
            "padded image: use a smaller kernel or more padding"
        )
    windows = sliding_window_view(x, k.shape)[::stride, ::stride]  # (H', W', kH, kW)
    return np.einsum("ijkl,kl->ij", windows, k)


@dataclass(frozen=True, eq=False)
class ConvStep:
    """One position of the kernel: what it sees, the products and their sum."""

    row: int  # output row
    col: int  # output column
    top: int  # window's first row in the padded image
    left: int  # window's first column in the padded image
    window: np.ndarray  # (kH, kW) input values under the kernel
    products: np.ndarray  # (kH, kW) window * kernel, elementwise
    value: float  # products.sum() = conv2d(...)[row, col]


def conv_step(
    image: np.ndarray, weights: np.ndarray, row: int, col: int, stride: int = 1, padding: int = 0
) -> ConvStep:
    """The multiply-add that produces output (row, col) of `conv2d(image, weights, stride, padding)`."""
    x = pad(np.asarray(image, dtype=np.float64), padding)  # (H + 2p, W + 2p)
    k = np.asarray(weights, dtype=np.float64)
    out_h = output_size(image.shape[0], k.shape[0], stride, padding)
    out_w = output_size(image.shape[1], k.shape[1], stride, padding)
    if not (0 <= row < out_h and 0 <= col < out_w):
        raise ValueError(f"output position ({row}, {col}) is outside the {out_h}x{out_w} output")
    top, left = row * stride, col * stride
    window = x[top : top + k.shape[0], left : left + k.shape[1]]  # (kH, kW)
    products = window * k
    return ConvStep(row, col, top, left, window, products, float(products.sum()))


def busiest_patch(image: np.ndarray, size: int = 8) -> tuple[int, int]:
    """(top, left) of the size x size patch with the most contrast (highest std), searched on a grid
    of step size // 2, so the step-through shows an edge rather than flat background."""
    h, w = image.shape
    if h <= size and w <= size:
        return 0, 0
    step = max(1, size // 2)
    best, best_std = (0, 0), -1.0
    for top in range(0, max(1, h - size + 1), step):
        for left in range(0, max(1, w - size + 1), step):
            spread = float(image[top : top + size, left : left + size].std())
            if spread > best_std:
                best, best_std = (top, left), spread
    return best


def slide_figure(
    patch: np.ndarray,
    weights: np.ndarray,
    step: ConvStep,
    padding: int,
    output: np.ndarray,
    shown: int,
) -> go.Figure:
    """The kernel over the padded patch (its window outlined, the real pixels dashed inside the
    zero padding) next to the output, filled in up to this position (`shown` cells, row-major)."""
    padded = pad(patch, padding)  # (h + 2p, w + 2p)
    so_far = np.full(output.shape, np.nan)
    so_far.reshape(-1)[:shown] = output.reshape(-1)[:shown]
    widths = [padded.shape[1], output.shape[1]]
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[w / sum(widths) for w in widths],
        horizontal_spacing=0.08,
        subplot_titles=[
            f"input patch {patch.shape[0]}×{patch.shape[1]}"
            + (f", padding {padding}" if padding else ""),
            f"output {output.shape[0]}×{output.shape[1]}",
        ],
    )
    fig.add_trace(map_trace(padded, 1.0, False, None), row=1, col=1)
    fig.add_trace(
        go.Heatmap(  # light gray cells: not computed yet
            z=np.zeros(output.shape),
            colorscale=[[0, "#e5e7eb"], [1, "#e5e7eb"]],
            showscale=False,
            xgap=2,
            ygap=2,
            hoverinfo="skip",
        ),
        row=1,
        col=2,
    )
    limit = color_limit(output)
    fig.add_trace(
        go.Heatmap(
            z=so_far,
            colorscale=SIGNED,
            zmin=-limit,
            zmax=limit,
            showscale=False,
            xgap=2,
            ygap=2,
            text=cell_text(so_far),
            texttemplate="%{text}" if output.size <= 64 else None,
            textfont=dict(size=14),
            hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    if padding:
        outline_cells(
            fig,
            1,
            padding,
            padding,
            patch.shape[0],
            patch.shape[1],
            color="#2563eb",
            width=2,
            dash="dash",
        )
    outline_cells(fig, 1, step.top, step.left, *weights.shape)
    outline_cells(fig, 2, step.row, step.col, 1, 1)
    image_axes(fig, 2)
    return layout(fig, 380)


def multiply_figure(step: ConvStep, weights: np.ndarray) -> go.Figure:
    """window × kernel = products, cell by cell with the numbers written in, and their sum."""
    panels = [
        ("pixels under the kernel", step.window, GRAY, 0.0, 1.0),
        ("kernel", weights, SIGNED, -color_limit(weights), color_limit(weights)),
        (
            "products",
            step.products,
            SIGNED,
            -color_limit(step.products),
            color_limit(step.products),
        ),
    ]
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=[p[0] for p in panels], horizontal_spacing=0.1
    )
    size = 18 if weights.shape[1] <= 3 else 13
    for i, (_, values, scale, low, high) in enumerate(panels, start=1):
        fig.add_trace(
            go.Heatmap(
                z=values,
                colorscale=scale,
                zmin=low,
                zmax=high,
                showscale=False,
                xgap=2,
                ygap=2,
                text=cell_text(values),
                texttemplate="%{text}",
                textfont=dict(size=size),
                hovertemplate="%{z:.4f}<extra></extra>",
            ),
            row=1,
            col=i,
        )
    for i, sign in ((1, "×"), (2, "=")):  # in the gap after panel i, paper coordinates
        after, before = (
            fig.layout[f"xaxis{'' if i == 1 else i}"].domain[1],
            fig.layout[f"xaxis{i + 1}"].domain[0],
        )
        fig.add_annotation(
            x=(after + before) / 2,
            y=0.5,
            xref="paper",
            yref="paper",
            text=f"<b>{sign}</b>",
            showarrow=False,
            font=dict(size=34),
        )
    fig.add_annotation(
        x=1.0,
        y=-0.12,
        xref="paper",
        yref="paper",
        xanchor="right",
        showarrow=False,
        font=dict(size=20),
        text=f"sum of the products = <b>{two_decimals(step.value)}</b> = output[{step.row}, "
        f"{step.col}]",
    )
    image_axes(fig, 3)
    return layout(fig, 330, margin_b=50)
