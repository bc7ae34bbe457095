"""Plotly figures of the Learn page: feature maps side by side, the kernel sliding over a patch,
activation curves, the dense layer, class probabilities, gradient descent on a loss surface.

Built for a projector: large fonts, few colours, numbers written in the cells where they fit.
Signed maps use a red (positive) / blue (negative) scale centred on white = 0; images are gray.
Every builder returns a `go.Figure` and never shows it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnlab import learn
from cnnlab.plots import TEMPLATE, TRAIN_COLOR, VAL_COLOR

FONT = dict(size=16)
SIGNED = "RdBu_r"  # blue < 0 < red, white at 0 (with zmid=0)
GRAY = "gray"
HIGHLIGHT = "#f59e0b"  # amber: the kernel window and the output cell it makes


def _layout(
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


def _limit(values: np.ndarray) -> float:
    """Half-range of a symmetric colour scale (never 0, so a flat map still draws)."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _image_axes(fig: go.Figure, n: int) -> None:
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


def _map_trace(values: np.ndarray, limit: float, signed: bool, colorbar: dict | None) -> go.Heatmap:
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
    shared_limit = max(_limit(m) for m in features) if features else 1.0
    for i, values in enumerate(maps, start=1):
        if i == 1 and image_first:
            fig.add_trace(_map_trace(values, 1.0, False, None), row=1, col=1)
            continue
        domain = fig.layout[f"xaxis{'' if i == 1 else i}"].domain
        bar = dict(x=domain[1] + 0.01, len=0.85, thickness=14)
        if same_scale and i < len(maps):
            bar = None  # one bar, on the last map
        limit = shared_limit if same_scale else _limit(values)
        fig.add_trace(_map_trace(values, limit, True, bar), row=1, col=i)
    if box is not None:
        top, left, size = box
        rows, cols = maps[0].shape
        _box(fig, 1, top, left, min(size, rows - top), min(size, cols - left), dash="dash", width=3)
    _image_axes(fig, len(maps))
    plot_width = width * (1 - spacing * (len(maps) - 1)) - 20  # pixels left for the maps
    height = 70 + plot_width * max(m.shape[0] for m in maps) / sum(widths)
    return _layout(fig, int(np.clip(height, 220, 520)))


def _two_decimals(v: float) -> str:
    """2 decimals ("0.25"), whole numbers without them ("-2", "0"), never "-0.00"."""
    text = f"{v:.2f}".replace("-0.00", "0.00")
    return text[:-3] if text.endswith(".00") else text


def _cell_text(values: np.ndarray) -> np.ndarray:
    """Numbers to write in heat-map cells: 2 decimals, blanks for NaN."""
    out = np.full(values.shape, "", dtype=object)
    for index, v in np.ndenumerate(values):
        if np.isfinite(v):
            out[index] = _two_decimals(float(v))
    return out


def _box(
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


def slide_figure(
    patch: np.ndarray,
    weights: np.ndarray,
    step: learn.ConvStep,
    padding: int,
    output: np.ndarray,
    shown: int,
) -> go.Figure:
    """The kernel over the padded patch (its window outlined, the real pixels dashed inside the
    zero padding) next to the output, filled in up to this position (`shown` cells, row-major)."""
    padded = learn.pad(patch, padding)  # (h + 2p, w + 2p)
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
    fig.add_trace(_map_trace(padded, 1.0, False, None), row=1, col=1)
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
    limit = _limit(output)
    fig.add_trace(
        go.Heatmap(
            z=so_far,
            colorscale=SIGNED,
            zmin=-limit,
            zmax=limit,
            showscale=False,
            xgap=2,
            ygap=2,
            text=_cell_text(so_far),
            texttemplate="%{text}" if output.size <= 64 else None,
            textfont=dict(size=14),
            hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    if padding:
        _box(
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
    _box(fig, 1, step.top, step.left, *weights.shape)
    _box(fig, 2, step.row, step.col, 1, 1)
    _image_axes(fig, 2)
    return _layout(fig, 380)


def multiply_figure(step: learn.ConvStep, weights: np.ndarray) -> go.Figure:
    """window × kernel = products, cell by cell with the numbers written in, and their sum."""
    panels = [
        ("pixels under the kernel", step.window, GRAY, 0.0, 1.0),
        ("kernel", weights, SIGNED, -_limit(weights), _limit(weights)),
        ("products", step.products, SIGNED, -_limit(step.products), _limit(step.products)),
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
                text=_cell_text(values),
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
        text=f"sum of the products = <b>{_two_decimals(step.value)}</b> = output[{step.row}, "
        f"{step.col}]",
    )
    _image_axes(fig, 3)
    return _layout(fig, 330, margin_b=50)


def activation_curves(selected: str, x_range: float = 4.0) -> go.Figure:
    """All activation functions on [-x_range, x_range]; `selected` bold, the others faint."""
    x = np.linspace(-x_range, x_range, 401)
    fig = go.Figure()
    for name, fn in learn.ACTIVATIONS.items():
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
    return _layout(
        fig,
        340,
        top=40,
        showlegend=False,
        title=dict(text=f"{selected} (the others in gray)", x=0.5, xanchor="center"),
    )


def dense_figure(
    features: np.ndarray, weights: np.ndarray, logits: np.ndarray, class_names: Sequence[str]
) -> go.Figure:
    """The flattened feature map (1, N) above the dense weights (K, N), and each class's logit =
    the sum of its weight row times the feature row, written at the end of the row."""
    x = np.asarray(features, dtype=np.float64).reshape(1, -1)  # (1, N)
    n, k = x.shape[1], len(class_names)
    names = [str(c) for c in class_names]
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
    limit = _limit(x)
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
    limit = _limit(weights)
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
            text=f"→ <b>{_two_decimals(float(logit))}</b>",
            showarrow=False,
        )
    fig.update_yaxes(visible=False, row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=2, col=1)
    fig.update_xaxes(title="feature number", row=2, col=1)
    return _layout(fig, 150 + 40 * k, margin_r=80)


def probability_figure(class_names: Sequence[str], probs: np.ndarray, target: int) -> go.Figure:
    """Vertical probability bars, the true class in orange."""
    colors = [VAL_COLOR if i == target else TRAIN_COLOR for i in range(len(class_names))]
    fig = go.Figure(
        go.Bar(
            x=[str(c) for c in class_names],
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
    return _layout(fig, 360, top=20)


def _clipped(path: np.ndarray, extent: float) -> tuple[np.ndarray, np.ndarray]:
    """Path points pushed back onto the plot box (a diverging run leaves it) and which were."""
    outside = np.abs(path).max(axis=1) > extent
    return np.clip(path, -extent, extent), outside


def descent_figure(surface: learn.Surface, descent: learn.Descent) -> go.Figure:
    """Contours of the loss with the path of the iterates from the start (green) to the last point
    (red); points that left the plot are drawn on its edge as crosses."""
    e = surface.extent
    grid = np.linspace(-e, e, 121)
    w1, w2 = np.meshgrid(grid, grid)  # (121, 121) each
    loss = surface.loss(np.stack([w1, w2], axis=-1))  # (121, 121)
    path, outside = _clipped(descent.path, e)
    fig = go.Figure()
    fig.add_trace(
        go.Contour(  # sqrt spaces the ellipses evenly; hover shows the real loss
            x=grid,
            y=grid,
            z=np.sqrt(loss),
            customdata=loss,
            colorscale="Blues",
            reversescale=True,
            ncontours=18,
            showscale=False,
            contours=dict(coloring="heatmap", showlines=True),
            line=dict(color="rgba(255,255,255,0.6)", width=1),
            hovertemplate="w1 %{x:.2f}, w2 %{y:.2f}<br>loss %{customdata:.3g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=path[:, 0],
            y=path[:, 1],
            mode="lines+markers",
            name="path",
            line=dict(color=VAL_COLOR, width=3),
            marker=dict(size=8, color=VAL_COLOR, symbol=np.where(outside, "x", "circle")),
            customdata=np.stack([np.arange(len(path)), descent.losses], axis=-1),
            hovertemplate="step %{customdata[0]}<br>loss %{customdata[1]:.3g}<extra></extra>",
        )
    )
    low = path[-1, 1] < -0.7 * e  # an end near the bottom edge gets its label above
    for (x, y), name, color, symbol, where in (
        (path[0], "start", "#16a34a", "circle", "top center"),
        (path[-1], "end", "#dc2626", "circle", "top center" if low else "bottom center"),
        ((0.0, 0.0), "minimum", "white", "star", "top center"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers+text",
                name=name,
                text=[f"<b>{name}</b>"],
                textposition=where,
                textfont=dict(size=16, color="black"),
                marker=dict(size=18, color=color, symbol=symbol, line=dict(color="black", width=1)),
            )
        )
    view = 1.06 * e  # a little margin, so points clipped to the edge stay visible
    fig.update_xaxes(title="weight w1", range=[-view, view], constrain="domain")
    fig.update_yaxes(
        title="weight w2", range=[-view, view], scaleanchor="x", scaleratio=1, constrain="domain"
    )
    return _layout(fig, 460, top=20, showlegend=False)


def loss_curve(descent: learn.Descent) -> go.Figure:
    """Loss after each step, log scale (zeros drawn at 1e-12)."""
    fig = go.Figure(
        go.Scatter(
            x=np.arange(len(descent.losses)),
            y=np.maximum(descent.losses, 1e-12),
            mode="lines+markers",
            line=dict(color=VAL_COLOR, width=3),
            marker=dict(size=6),
            hovertemplate="step %{x}: loss %{y:.3g}<extra></extra>",
        )
    )
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss (log scale)", type="log", exponentformat="power")
    return _layout(fig, 460, top=20)
