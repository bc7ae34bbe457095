"""Plotly figure builders for the pages: image grids, confusion heat map, bars, feature maps,
filters and the layer diagram; the training curves live in `cnnlab.curves` (re-exported here).

Every builder returns a `go.Figure` (light theme) and never shows it. Images are embedded as PNG
data URIs (`go.Image(source=...)`), which keeps the page payload small and pixels crisp.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import plotly.graph_objects as go
import torch
from torchvision.utils import make_grid

from cnnlab.curves import batch_loss_curve, compare_curves, smooth, training_curves
from cnnlab.figure_style import MARGIN, TEMPLATE, TRAIN_COLOR, VAL_COLOR, message_figure
from cnnlab.text import html_escape

TITLE_PX = 16  # pixels between tiles when they have titles: room for one line of 11 px text

__all__ = [
    "MARGIN",
    "TEMPLATE",
    "TRAIN_COLOR",
    "VAL_COLOR",
    "batch_loss_curve",
    "class_counts_bar",
    "compare_curves",
    "confusion_heatmap",
    "feature_map_grid",
    "filter_grid",
    "image_grid",
    "layer_stack_figure",
    "message_figure",
    "probability_bars",
    "smooth",
    "tile_grid",
    "training_curves",
    "viridis",
]

# 9 samples of matplotlib's viridis, interpolated linearly (RGB 0..255).
_VIRIDIS = np.array(
    [
        [68, 1, 84],
        [71, 44, 122],
        [59, 81, 139],
        [44, 113, 142],
        [33, 144, 141],
        [39, 173, 129],
        [92, 200, 99],
        [170, 220, 50],
        [253, 231, 37],
    ],
    dtype=np.float32,
)


def viridis(values: np.ndarray) -> np.ndarray:
    """float (...,) in [0, 1] -> uint8 (..., 3) RGB on the viridis colour map."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    low = np.minimum(v.astype(np.int64), len(_VIRIDIS) - 2)  # (...,) index of the lower sample
    frac = (v - low)[..., None]  # (..., 1)
    rgb = _VIRIDIS[low] * (1 - frac) + _VIRIDIS[low + 1] * frac  # (..., 3)
    return (rgb + 0.5).astype(np.uint8)


def _min_max(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Scale to [0, 1] over `axes` (constant slices become 0)."""
    low = x.min(axis=axes, keepdims=True)
    span = x.max(axis=axes, keepdims=True) - low
    return np.divide(x - low, span, out=np.zeros_like(x, dtype=np.float32), where=span > 0)


def _png_uri(image: np.ndarray) -> str:
    """uint8 (H, W, 3) or (H, W) -> 'data:image/png;base64,...'."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class TileGrid:
    """Images laid out on one picture by `torchvision.utils.make_grid`."""

    picture: np.ndarray  # uint8 (H', W', 3): the tiles row by row, `pad` pixels around each
    count: int  # tiles drawn
    cols: int  # tiles per row
    tile: tuple[int, int]  # (height, width) of one tile on the picture, pixels (after upscaling)
    pad: int  # pixels of `pad_value` between tiles and around the edge

    def origin(self, i: int) -> tuple[int, int]:
        """(top, left) pixel of tile `i` on the picture (make_grid's layout)."""
        row, col = divmod(i, self.cols)
        return self.pad + row * (self.tile[0] + self.pad), self.pad + col * (
            self.tile[1] + self.pad
        )


def tile_grid(
    images: Any, cols: int = 8, upscale_to: int = 0, pad: int = 2, pad_value: int = 255
) -> TileGrid:
    """uint8 images (N, C, H, W), C = 1 (grey) or 3, on one RGB picture, `cols` a row.

    `upscale_to` (pixels) enlarges small images by an integer factor (nearest neighbour, so
    pixels stay sharp) until the longer side reaches it; 0 keeps them as they are.
    """
    x = torch.as_tensor(images).cpu()
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.dtype != torch.uint8 or not len(x):
        raise ValueError(
            f"expected uint8 images (N>0, C=1 or 3, H, W), got {x.dtype} {tuple(x.shape)}"
        )
    factor = max(1, math.ceil(upscale_to / max(x.shape[2:]))) if upscale_to else 1
    if factor > 1:
        x = x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    cols = max(1, min(cols, len(x)))
    if len(x) == 1:  # make_grid returns a single image without padding
        grid = torch.nn.functional.pad(x[0].expand(3, -1, -1), (pad,) * 4, value=pad_value)
    else:
        grid = make_grid(x, nrow=cols, padding=pad, pad_value=pad_value)  # (3, H', W')
    picture = grid.permute(1, 2, 0).contiguous().numpy()
    return TileGrid(picture, len(x), cols, (int(x.shape[2]), int(x.shape[3])), pad)


def image_grid(
    images: Any, titles: Sequence[str] | None = None, cols: int = 8, upscale_to: int = 0
) -> go.Figure:
    """Grid of uint8 images (N, C, H, W), C = 1 (grey) or 3, as one go.Image trace of the
    `tile_grid` picture, shown pixel for pixel; titles are annotations in the gap above each tile.
    """
    x = torch.as_tensor(images) if not isinstance(images, np.ndarray) else torch.from_numpy(images)
    if len(x) == 0:
        return message_figure("no images to show", height=120)
    if x.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {x.dtype}")
    shown = [html_escape(t) for t in titles[: len(x)]] if titles and any(titles) else []
    grid = tile_grid(x, cols, upscale_to, pad=TITLE_PX if shown else 4)
    height, width = grid.picture.shape[:2]
    notes = []  # one dict per title: built in one go (fig.add_annotation is O(n) per call)
    for i, title in enumerate(shown):
        top, left = grid.origin(i)
        if title:
            x = left + grid.tile[1] / 2
            notes.append(dict(x=x, y=top, text=title, showarrow=False, yanchor="bottom"))
    layout = dict(template=TEMPLATE, height=height, width=width, margin=dict(l=0, r=0, t=0, b=0))
    axis = dict(visible=False, fixedrange=True)
    fig = go.Figure(
        go.Image(source=_png_uri(grid.picture), hoverinfo="skip"),
        go.Layout(
            annotations=notes,
            xaxis=dict(axis, range=[0, width]),
            yaxis=dict(axis, range=[height, 0]),  # row 0 at the top
            font_size=11,
            **layout,
        ),
    )
    return fig


def class_counts_bar(
    class_names: Sequence[str], counts_by_split: dict[str, Sequence[int]]
) -> go.Figure:
    """Grouped bars: images per class, one bar group per class and one colour per split."""
    fig = go.Figure()
    for split, counts in counts_by_split.items():
        fig.add_trace(go.Bar(name=split, x=[html_escape(c) for c in class_names], y=list(counts)))
    fig.update_layout(
        template=TEMPLATE,
        barmode="group",
        margin=MARGIN,
        height=320,
        xaxis=dict(type="category", title="class"),
        yaxis=dict(title="images"),
        legend=dict(orientation="h", y=1.1),
    )
    return fig


def confusion_heatmap(
    confusion: np.ndarray, class_names: Sequence[str], normalized: bool
) -> go.Figure:
    """Heat map of the confusion matrix (K, K) of counts: rows = true class (top to bottom),
    columns = predicted. `normalized` colours by the share of each true class instead of counts.
    Hover shows the count and the row percentage; each cell is a clickable point."""
    counts = np.asarray(confusion, dtype=np.int64)
    k = len(counts)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # (K, K) row-normalised
    z = share if normalized else counts
    names = [html_escape(c) for c in class_names]  # plotly reads labels as HTML: show them
    text = np.vectorize(lambda v: f"{v:.0%}")(share) if normalized else counts.astype(str)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            customdata=np.stack([counts, share * 100], axis=-1),  # (K, K, 2)
            hovertemplate="true: %{y}<br>predicted: %{x}<br>count: %{customdata[0]}"
            "<br>share of true: %{customdata[1]:.1f}%<extra></extra>",
            text=text,
            texttemplate="%{text}" if k <= 20 else None,  # unreadable beyond ~20 classes
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalized else None,
            colorbar=dict(
                title="share" if normalized else "count", tickformat=".0%" if normalized else None
            ),
        )
    )
    side = min(900, max(350, 26 * k + 150))
    fig.update_layout(
        template=TEMPLATE,
        height=side,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(title="predicted", type="category", tickangle=-45 if k > 10 else 0),
        yaxis=dict(title="true", type="category", autorange="reversed"),
    )
    return fig


def probability_bars(top: Sequence[tuple[str, float]]) -> go.Figure:
    """Horizontal bars of (class name, probability), the first item on top."""
    names = [html_escape(name) for name, _ in top]
    probs = [float(p) for _, p in top]
    fig = go.Figure(
        go.Bar(
            x=probs,
            y=names,
            orientation="h",
            text=[f"{p:.1%}" for p in probs],
            textposition="auto",
            marker_color=[VAL_COLOR] + [TRAIN_COLOR] * (len(probs) - 1) if probs else None,
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        height=40 * len(names) + 60,
        margin=MARGIN,
        xaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
        yaxis=dict(type="category", autorange="reversed"),
    )
    return fig


def feature_map_grid(maps: Any, max_maps: int = 32, cols: int = 8) -> go.Figure:
    """Activations (C, H, W) of one layer: the first `max_maps` channels, each min-max scaled and
    coloured with viridis, titled by channel index."""
    x = torch.as_tensor(maps).detach().float().cpu().numpy()[:max_maps]  # (N, H, W)
    scaled = _min_max(x, axes=(1, 2))  # (N, H, W) in [0, 1]
    rgb = viridis(scaled).transpose(0, 3, 1, 2)  # (N, 3, H, W) uint8
    return image_grid(rgb, titles=[str(i) for i in range(len(rgb))], cols=cols, upscale_to=64)


def filter_grid(filters: Any, max_filters: int = 64, cols: int = 8) -> go.Figure:
    """Conv kernels (F, C, kH, kW), each min-max scaled on its own: shown in colour when C = 3,
    else the mean over input channels in gray."""
    w = torch.as_tensor(filters).detach().float().cpu().numpy()[:max_filters]  # (F, C, kH, kW)
    if w.shape[1] != 3:
        w = w.mean(axis=1, keepdims=True)  # (F, 1, kH, kW)
    scaled = (_min_max(w, axes=(1, 2, 3)) * 255 + 0.5).astype(np.uint8)
    return image_grid(scaled, titles=[str(i) for i in range(len(scaled))], cols=cols, upscale_to=48)


def _box_color(label: str) -> str:
    text = label.lower()
    for words, color in (
        (("conv",), "#c6dbef"),
        (("pool",), "#c7e9c0"),
        (("linear", "dense", "fc", "classifier"), "#fdd0a2"),
        (("input",), "#eeeeee"),
    ):
        if any(word in text for word in words):
            return color
    return "#f2f2f2"


def layer_stack_figure(rows: Sequence[tuple[str, str]]) -> go.Figure:
    """A column of boxes, one per layer from the input at the top, each labelled with its name and
    output shape text, joined by arrows (layout shapes + annotations, no traces)."""
    if not rows:
        return message_figure("no layers")
    step = 1.5  # box height 1 plus a gap of 0.5, data units
    fig = go.Figure()
    for i, (label, shape) in enumerate(rows):
        top = -i * step
        fig.add_shape(
            type="rect",
            x0=0,
            x1=1,
            y0=top - 1,
            y1=top,
            line=dict(color="#555", width=1),
            fillcolor=_box_color(label),
            layer="below",
        )
        fig.add_annotation(
            x=0.5, y=top - 0.5, text=f"<b>{label}</b>  {shape}", showarrow=False, font=dict(size=12)
        )
        if i:
            fig.add_annotation(  # arrow from the previous box's bottom to this box's top
                x=0.5,
                y=top,
                ax=0.5,
                ay=top + step - 1,
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                text="",
                showarrow=True,
                arrowhead=2,
                arrowsize=1,
                arrowwidth=1.2,
                arrowcolor="#555",
            )
    bottom = -(len(rows) - 1) * step - 1
    fig.update_xaxes(visible=False, range=[-0.05, 1.05], fixedrange=True)
    fig.update_yaxes(visible=False, range=[bottom - 0.1, 0.1], fixedrange=True)
    fig.update_layout(
        template=TEMPLATE, height=int(42 * len(rows) * step) + 20, margin=dict(l=5, r=5, t=5, b=5)
    )
    return fig
