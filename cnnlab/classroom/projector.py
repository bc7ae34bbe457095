"""The projector view's content: the class's live curves, one line per student, and the queue.

Made for the big screen at the front of a room: few words, large type, thick lines in strongly
different colours, each line labelled at its end with the student's name (no legend to match up).
Inputs are the shared `ClassRuns` records, so a refresh re-reads only the runs that changed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import plotly.graph_objects as go

from cnnlab.classroom.class_runs import ClassRun
from cnnlab.events import EpochEvent
from cnnlab.figure_style import ACCURACY_RANGE
from cnnlab.runs.fair import Projection
from cnnlab.runs.live import format_duration
from cnnlab.text import html_escape

RECENT_S = 20 * 60  # a run that ended this long ago still shows its curve
FONT = 24  # px: tick labels; names and titles are larger (read from ~10 m on a 2 m screen)
# Dark, saturated, mutually distinct colours (Plotly's Dark24 start): readable on white.
COLORS = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)  # fmt: skip


@dataclass(frozen=True)
class Curve:
    name: str  # the student's display name (escaped when drawn)
    run_id: str
    active: bool  # still queued or training
    epochs: tuple[EpochEvent, ...]


def class_curves(
    records: Iterable[ClassRun], lesson: str, now: float | None = None, recent_s: float = RECENT_S
) -> list[Curve]:
    """One curve per student of `lesson`: their newest run that is active or ended recently and
    has validated at least one epoch; sorted by name."""
    now = time.time() if now is None else now
    newest: dict[str, ClassRun] = {}
    for r in records:
        if r.owner.lesson != lesson or not any(e.val_acc is not None for e in r.epochs):
            continue
        if not r.active and now - (r.status.ended or r.status.updated or 0.0) > recent_s:
            continue
        mine = newest.get(r.owner.user_id)
        if mine is None or (r.status.created or 0.0) > (mine.status.created or 0.0):
            newest[r.owner.user_id] = r
    curves = [
        Curve(r.owner.name or r.owner.user_id, r.run_id, r.active, r.epochs)
        for r in newest.values()
    ]
    return sorted(curves, key=lambda c: c.name.casefold())


def spread(values: list[float], gap: float, lo: float = 0.0, hi: float = 1.0) -> list[float]:
    """`values` moved apart so that no two are closer than `gap`, keeping their order and staying
    within [lo, hi] where possible (end-of-line name labels that would overlap)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    placed = [0.0] * len(values)
    last = -float("inf")
    for i in order:  # upwards: each label at least `gap` above the one below
        placed[i] = last = max(values[i], last + gap, lo)
    top = hi
    for i in reversed(order):  # then down from the top, if that pushed labels past `hi`
        placed[i] = top = min(placed[i], top)
        top -= gap
    return placed


def curves_figure(curves: list[Curve], height: int = 640) -> go.Figure:
    """Validation accuracy per epoch, one thick line per student, named at its last point
    (training runs: thicker lines)."""
    fig = go.Figure()
    ends: list[tuple[int, float, str, str]] = []  # (last epoch, last accuracy, name, colour)
    for i, curve in enumerate(curves):
        points = [e for e in curve.epochs if e.val_acc is not None]
        color, name = COLORS[i % len(COLORS)], html_escape(curve.name)
        x, y = [e.epoch for e in points], [e.val_acc for e in points]
        fig.add_trace(
            go.Scatter(
                x=x, y=y, name=name, mode="lines+markers", showlegend=False,
                line=dict(color=color, width=7 if curve.active else 4),
                marker=dict(size=12 if curve.active else 8),
                hovertemplate=f"{name}: %{{y:.1%}}<extra></extra>",
            )
        )  # fmt: skip
        ends.append((x[-1], y[-1], name, color))
    gap = (FONT + 6) / max(height - 140, 100)  # one label's height in accuracy units
    label_y = spread([e[1] for e in ends], gap)
    for (x, _, name, color), y in zip(ends, label_y, strict=True):
        fig.add_annotation(
            x=x, y=y, text=f"<b>{name}</b>", showarrow=False, xanchor="left", xshift=14,
            font=dict(size=FONT + 2, color=color),
        )  # fmt: skip
    most = max((e[0] for e in ends), default=1)
    fig.update_layout(
        height=height,
        margin=dict(l=120, r=230, t=20, b=90),  # room for the ticks and, right, the names
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        font=dict(size=FONT, color="#111111"),
        xaxis=dict(title="epoch", dtick=1, range=[0.8, most + 0.2], gridcolor="#dddddd"),
        yaxis=dict(
            title="validation accuracy", tickformat=".0%", range=ACCURACY_RANGE,
            gridcolor="#dddddd",
        ),
    )  # fmt: skip
    return fig


@dataclass(frozen=True)
class QueueRow:
    position: int  # 1 = starts next
    name: str  # whose run
    starts: str  # "next", "in ~3 min", "" when unknown


def queue_rows(projections: list[Projection], names: dict[str, str]) -> list[QueueRow]:
    """The waiting runs in start order with their owner's name (`names`: run id -> name)."""
    rows = []
    for p in projections:
        if p.start_in_s is None:
            starts = ""
        elif p.start_in_s < 5:
            starts = "next"
        else:
            starts = f"in ~{format_duration(p.start_in_s)}"
        rows.append(QueueRow(p.position, names.get(p.run_id, "?"), starts))
    return rows
