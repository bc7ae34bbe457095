"""The look of the Learn figures and the figure every image lesson shares: maps side by side.

Built for a projector: large fonts, few colours, numbers written in the cells where they fit.
Signed maps use a red (positive) / blue (negative) scale centred on white = 0; images are gray.
Every builder returns a `go.Figure` and never shows it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnlab.plots import TEMPLATE

FONT = dict(size=16)
SIGNED = "RdBu_r"  # blue < 0 < red, white at 0 (with zmid=0)
GRAY = "gray"
HIGHLIGHT = "#f59e0b"  # amber: the kernel window and the output cell it makes


def dims(x: np.ndarray) -> str:
    """ "H×W" of a map (H, W), for titles and sentences."""
    return f"{x.shape[0]}×{x.shape[1]}"


def layout(
    fig: go.Figure,
    height: int,
    top: int = 50,
    margin_b: int = 10,
    margin_r: int = 10,
    **kw: object,
) -> go.Figure:
    """House look: white template, large font, slim margins (`top` leaves room for titles)."""
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        font=FONT,
        margin=dict(l=10, r=margin_r, t=top, b=margin_b),
        **kw,
    )
    return fig


def color_limit(values: np.ndarray) -> float:
    """Half-range of a symmetric colour scale (never 0, so a flat map still draws)."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def image_axes(fig: go.Figure, n: int) -> None:
    """Pixels square, row 0 on top, no ticks, for subplots 1..n."""
    for i in range(1, n + 1):
        suffix = "" if i == 1 else str(i)
        fig.update_layout(
            {
                f"xaxis{suffix}": dict(visible=False, constrain="domain"),
                f"yaxis{suffix}": dict(
                    visible=False,
                    autorange="reversed",
                    constrain="domain",
                    scaleanchor=f"x{suffix}",
                    scaleratio=1,
                ),
            }
        )


def map_trace(values: np.ndarray, limit: float, signed: bool, colorbar: dict | None) -> go.Heatmap:
    """A heat map of one map: red/blue around 0 when `signed`, else gray from 0 (black) to
    `limit` (white). `colorbar` None hides the colour bar."""
    low, scale = (-limit, SIGNED) if signed else (0.0, GRAY)
    return go.Heatmap(
        z=values,
        colorscale=scale,
        zmin=low,
        zmax=limit,
        showscale=colorbar is not None,
        colorbar=colorbar,
        hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>",
    )


def two_decimals(v: float) -> str:
    """2 decimals ("0.25"), whole numbers without them ("-2", "0"), never "-0.00"."""
    text = f"{v:.2f}".replace("-0.00", "0.00")
    return text[:-3] if text.endswith(".00") else text


def cell_text(values: np.ndarray) -> np.ndarray:
    """Numbers to write in heat-map cells: 2 decimals, blanks for NaN."""
    out = np.full(values.shape, "", dtype=object)
    for index, v in np.ndenumerate(values):
        if np.isfinite(v):
            out[index] = two_decimals(float(v))
    return out


def outline_cells(
    fig: go.Figure, col: int, top: float, left: float, rows: int, cols: int, **line: object
) -> None:
    """A rectangle around cells [top, top + rows) x [left, left + cols) of subplot `col`."""
    fig.add_shape(
        type="rect",
        x0=left - 0.5,
        x1=left + cols - 0.5,
        y0=top - 0.5,
        y1=top + rows - 0.5,
        line=dict(color=HIGHLIGHT, width=4) | line,
        row=1,
        col=col,
    )


def maps_figure(
    panels: Sequence[tuple[str, np.ndarray]],
    image_first: bool = False,
    same_scale: bool = False,
    box: tuple[int, int, int] | None = None,
    width: int = 680,
) -> go.Figure:
    """Maps (H, W) side by side, each titled, at the same size per pixel (a smaller map looks
    smaller). Feature maps are red (> 0) / blue (< 0) around white = 0, each with a colour bar;
    `image_first`: the first map is an image in [0, 1], drawn gray. `same_scale`: the feature
    maps share one colour range and one bar, to compare before/after. `box` = (top, left, size)
    outlines a square of the first map (dashed). `width`: expected pixels on screen; the height
    follows from it so the maps fill the figure."""
    maps = [np.asarray(values, dtype=np.float64) for _, values in panels]
    widths = [m.shape[1] for m in maps]
    spacing = 0.12
    fig = make_subplots(
        rows=1,
        cols=len(maps),
        subplot_titles=[t for t, _ in panels],
        column_widths=[w / sum(widths) for w in widths],
        horizontal_spacing=spacing,
    )
    features = maps[1:] if image_first else maps
    shared_limit = max(color_limit(m) for m in features) if features else 1.0
    for i, values in enumerate(maps, start=1):
        if i == 1 and image_first:
            fig.add_trace(map_trace(values, 1.0, False, None), row=1, col=1)
            continue
        domain = fig.layout[f"xaxis{'' if i == 1 else i}"].domain
        bar = dict(x=domain[1] + 0.01, len=0.85, thickness=14)
        if same_scale and i < len(maps):
            bar = None  # one bar, on the last map
        limit = shared_limit if same_scale else color_limit(values)
        fig.add_trace(map_trace(values, limit, True, bar), row=1, col=i)
    if box is not None:
        top, left, size = box
        rows, cols = maps[0].shape
        outline_cells(
            fig, 1, top, left, min(size, rows - top), min(size, cols - left), dash="dash", width=3
        )
    image_axes(fig, len(maps))
    plot_width = width * (1 - spacing * (len(maps) - 1)) - 20  # pixels left for the maps
    height = 70 + plot_width * max(m.shape[0] for m in maps) / sum(widths)
    return layout(fig, int(np.clip(height, 220, 520)))
