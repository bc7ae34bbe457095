"""Pictures of a run's snapshots for the pages: one probe's maps per snapshot, the whole strip
over the snapshots, and the embedding scatter animated over epochs (plotly)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from cnnlab.figure_style import TEMPLATE, message_figure
from cnnlab.plots import tile_grid, viridis
from cnnlab.text import html_escape
from cnnlab.watch.frames import Frame, frame_steps, read_frame
from cnnlab.watch.probes import Plan
from cnnlab.watch.projection import align

TILE_PX = 48  # on-screen pixels of one map tile (integer upscaling, sharp)


def read_all(folder: Path) -> list[Frame]:
    """Every readable snapshot in order (damaged files left out)."""
    frames = [read_frame(folder, s) for s in frame_steps(folder)]
    return [f for f in frames if f is not None]


def probe_picture(frame: Frame, probe: int, channels: int = 8) -> np.ndarray:
    """uint8 (H, W, 3): one row per kept layer, its first `channels` maps of probe `probe`."""
    rows = []
    for maps in frame.maps:  # (P, c, h, w)
        tiles = viridis(maps[probe, :channels] / 255.0).transpose(0, 3, 1, 2)  # (c, 3, h, w)
        rows.append(tile_grid(tiles, cols=len(tiles), upscale_to=TILE_PX).picture)
    if not rows:
        return np.full((8, 8, 3), 255, np.uint8)
    width = max(r.shape[1] for r in rows)
    padded = [
        np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows
    ]
    return np.concatenate(padded, axis=0)


def strip_picture(frames: Sequence[Frame], probe: int, channels: int = 4) -> np.ndarray:
    """uint8: one row per snapshot (top = epoch 0), each `probe_picture` with `channels` maps."""
    pictures = [probe_picture(f, probe, channels) for f in frames]
    width = max(p.shape[1] for p in pictures)
    rows = [
        np.pad(p, ((0, 6), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in pictures
    ]
    return np.concatenate(rows, axis=0)


def embedding_figure(frames: Sequence[Frame], plan: Plan, height: int = 480) -> go.Figure:
    """Scatter of the embedding points per snapshot (PCA, aligned, unit RMS), one trace per class,
    misclassified points as crosses; animated with a play button and a slider (last frame shown).
    Each point's customdata: (validation index, true class, predicted class, probability)."""
    shown = [
        f for f in frames if f.embed_xy is not None and len(f.embed_xy) == len(plan.embed_indices)
    ]
    if not shown:
        return message_figure("no embedding snapshots yet", height=160)
    coords = align([f.embed_xy for f in shown])
    labels = np.asarray(plan.embed_labels)
    names = [html_escape(n) for n in plan.class_names]
    limit = float(max(np.abs(c).max() for c in coords)) * 1.05 or 1.0

    def traces(frame: Frame, xy: np.ndarray) -> list[go.Scatter]:
        pred = np.asarray(frame.embed_pred, dtype=int)
        conf = np.asarray(frame.embed_conf, dtype=float)
        out = []
        for k, name in enumerate(names):
            at = np.flatnonzero(labels == k)
            custom = np.stack(
                [np.asarray(plan.embed_indices)[at], labels[at], pred[at], conf[at]], axis=1
            )
            wrong = pred[at] != k
            out.append(
                go.Scatter(
                    x=xy[at, 0], y=xy[at, 1], mode="markers", name=name,
                    marker=dict(size=np.where(wrong, 10, 7), symbol=np.where(wrong, "x", "circle"),
                                color=k, colorscale="Turbo", cmin=0, cmax=max(1, len(names) - 1)),
                    customdata=custom,
                    text=[f"predicted {names[p]}" for p in pred[at]],
                    hovertemplate="val #%{customdata[0]}<br>true " + name
                    + "<br>%{text} (%{customdata[3]:.0%})<extra></extra>",
                )
            )  # fmt: skip
        return out

    animation = [
        go.Frame(data=traces(f, xy), name=f.label) for f, xy in zip(shown, coords, strict=True)
    ]
    steps = [
        dict(method="animate", label=f.label.replace(" (", "<br>("),
             args=[[f.label], dict(mode="immediate", frame=dict(duration=0, redraw=False))])
        for f in shown
    ]  # fmt: skip
    fig = go.Figure(data=animation[-1].data, frames=animation)
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=dict(duration=700, redraw=False), fromcurrent=False,
                                 transition=dict(duration=300))])  # fmt: skip
    fig.update_layout(
        template=TEMPLATE, height=height, margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(range=[-limit, limit], visible=False), yaxis=dict(range=[-limit, limit], visible=False, scaleanchor="x"),
        updatemenus=[dict(type="buttons", buttons=[play], x=0, y=-0.02, xanchor="left", yanchor="top")],
        sliders=[dict(steps=steps, active=len(steps) - 1, x=0.12, len=0.88, y=0, yanchor="top", currentvalue=dict(visible=False))],
        clickmode="event+select", legend=dict(itemsizing="constant"),
    )  # fmt: skip
    return fig
