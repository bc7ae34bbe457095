"""The report's figures as inline SVG text: line charts, the confusion heat map, the reliability
diagram and the per-class F1 bars.

Hand-written SVG rather than a plotting library: each figure is a few kB of text that renders
sharp at any zoom, in any browser and in Markdown viewers that show data-URI images, needs no
JavaScript and makes no request (plotly's inline JS alone is ~4.5 MB per file; matplotlib is not
a dependency). Text in a figure is escaped (class names are user input).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

FONT = "font-family='system-ui,-apple-system,Segoe UI,Roboto,sans-serif'"
BLUE, ORANGE, GREY, RED, GREEN = "#2563eb", "#ea580c", "#6b7280", "#dc2626", "#16a34a"
GRID = "#e5e7eb"


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float | None]  # None = not measured (a gap in the line)
    color: str
    dashed: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
        f"width='{width}' height='{height}' role='img' aria-label='{escape(label)}' "
        f"style='max-width:100%;height:auto' {FONT} font-size='12'>" + "".join(body) + "</svg>"
    )


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) >= 0.01 or value == 0 else f"{value:.0e}"


def line_chart(
    series: list[Series],
    *,
    title: str,
    y_label: str,
    y_range: tuple[float, float] | None = None,
    marks: Sequence[tuple[float, str]] = (),
    width: int = 440,
    height: int = 280,
) -> str:
    """Lines over epochs; `marks` = vertical dotted lines (x, label), e.g. the kept epoch."""
    left, right, top, bottom = 52, 12, 30, 62
    xs = [float(x) for s in series for x, y in zip(s.x, s.y, strict=True) if y is not None]
    ys = [float(y) for s in series for y in s.y if y is not None and math.isfinite(y)]
    if not xs or not ys:
        body = [f"<text x='{width / 2}' y='{height / 2}' text-anchor='middle' fill='{GREY}'>"
                "no epochs were validated</text>"]  # fmt: skip
        return _svg(width, height, body, title)
    x0, x1 = min(xs), max(xs)
    x0, x1 = (x0 - 0.5, x1 + 0.5) if x0 == x1 else (x0, x1)
    y0, y1 = y_range or (min(0.0, min(ys)), max(ys) * 1.05 if max(ys) > 0 else 1.0)
    y_ticks = nice_ticks(y0, y1)
    y0, y1 = min(y0, y_ticks[0]), max(y1, y_ticks[-1])
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    body = [f"<text x='{left}' y='18' font-size='13' font-weight='600'>{escape(title)}</text>"]
    for t in y_ticks:
        body.append(f"<line x1='{left}' x2='{width - right}' y1='{py(t):.1f}' y2='{py(t):.1f}' "
                    f"stroke='{GRID}'/><text x='{left - 6}' y='{py(t) + 4:.1f}' "
                    f"text-anchor='end' fill='{GREY}'>{_fmt(t)}</text>")  # fmt: skip
    epochs = sorted(set(xs))
    step = max(1, math.ceil(len(epochs) / 10))
    for e in epochs[::step]:
        body.append(f"<text x='{px(e):.1f}' y='{top + ph + 16}' text-anchor='middle' "
                    f"fill='{GREY}'>{_fmt(e)}</text>")  # fmt: skip
    body.append(f"<text x='{left + pw / 2}' y='{top + ph + 32}' text-anchor='middle' "
                f"fill='{GREY}'>epoch</text>")  # fmt: skip
    body.append(f"<text transform='translate(14 {top + ph / 2}) rotate(-90)' "
                f"text-anchor='middle' fill='{GREY}'>{escape(y_label)}</text>")  # fmt: skip
    for x, label in marks:
        near_right = px(x) > left + pw * 0.8  # label on the left of the line, inside the plot
        tx, anchor = (px(x) - 4, "end") if near_right else (px(x) + 4, "start")
        body.append(f"<line x1='{px(x):.1f}' x2='{px(x):.1f}' y1='{top}' y2='{top + ph}' "
                    f"stroke='{GREY}' stroke-dasharray='2 3'/><text x='{tx:.1f}' "
                    f"y='{top + 10}' fill='{GREY}' font-size='11' text-anchor='{anchor}'>"
                    f"{escape(label)}</text>")  # fmt: skip
    for s in series:
        points = [(px(float(x)), py(float(y))) for x, y in zip(s.x, s.y, strict=True)
                  if y is not None and math.isfinite(y)]  # fmt: skip
        dash = " stroke-dasharray='6 4'" if s.dashed else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f"<polyline points='{path}' fill='none' stroke='{s.color}' "
                    f"stroke-width='2'{dash}/>")  # fmt: skip
        body += [f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{s.color}'/>" for x, y in points]
    legend_x = left
    for s in series:
        dash = " stroke-dasharray='6 4'" if s.dashed else ""
        y = height - 12
        body.append(f"<line x1='{legend_x}' x2='{legend_x + 22}' y1='{y - 4}' y2='{y - 4}' "
                    f"stroke='{s.color}' stroke-width='2'{dash}/><text x='{legend_x + 28}' "
                    f"y='{y}'>{escape(s.label)}</text>")  # fmt: skip
        legend_x += 40 + 7 * len(s.label)
    return _svg(width, height, body, title)


def _blue(share: float) -> str:
    """White (0) to dark blue (1)."""
    share = min(max(share, 0.0), 1.0)
    low, high = np.array([247, 251, 255]), np.array([8, 48, 107])
    r, g, b = (low + (high - low) * share).astype(int)
    return f"rgb({r},{g},{b})"


def confusion_svg(confusion: np.ndarray, names: list[str], max_side: int = 520) -> str:
    """Counts (K, K) (rows true, columns predicted), coloured by the row share."""
    k = len(names)
    label_w = min(110, 14 + 7 * max((len(n) for n in names), default=1))
    cell = max(6, min(44, (max_side - label_w) // max(k, 1)))
    left, top = label_w + 20, label_w + 24
    width, height = left + cell * k + 10, top + cell * k + 10
    support = np.maximum(confusion.sum(axis=1, keepdims=True), 1)  # (K, 1)
    share = confusion / support
    body = [f"<text x='{left + cell * k / 2}' y='14' text-anchor='middle' fill='{GREY}'>"
            "predicted class</text>",
            f"<text transform='translate(14 {top + cell * k / 2}) rotate(-90)' "
            f"text-anchor='middle' fill='{GREY}'>true class</text>"]  # fmt: skip
    show_text, show_names = cell >= 22, cell >= 10  # else the names are in the cells' titles
    for i in range(k):
        name = escape(names[i][:14])
        if show_names:
            body.append(f"<text x='{left - 6}' y='{top + i * cell + cell / 2 + 4}' "
                        f"text-anchor='end'>{name}</text><text transform='translate("
                        f"{left + i * cell + cell / 2 + 4} {top - 6}) rotate(-90)'>{name}</text>")  # fmt: skip
        for j in range(k):
            x, y = left + j * cell, top + i * cell
            body.append(f"<rect x='{x}' y='{y}' width='{cell}' height='{cell}' "
                        f"fill='{_blue(share[i, j])}' stroke='white'><title>true {name}, "
                        f"predicted {escape(names[j])}: {confusion[i, j]}</title></rect>")  # fmt: skip
            if show_text and confusion[i, j]:
                colour = "white" if share[i, j] > 0.5 else "#111827"
                body.append(f"<text x='{x + cell / 2}' y='{y + cell / 2 + 4}' "
                            f"text-anchor='middle' fill='{colour}' font-size='11'>"
                            f"{confusion[i, j]}</text>")  # fmt: skip
    return _svg(width, height, body, "confusion matrix")


def reliability_svg(edges: np.ndarray, accuracy: np.ndarray, counts: np.ndarray) -> str:
    """Accuracy per confidence bin (bars) against the diagonal (perfect calibration), and the
    images per bin as a small histogram under the axis."""
    width, height, left, top, side, band = 340, 380, 52, 14, 260, 36
    band_top = top + side + 26  # the histogram's band, under the tick labels
    body = [f"<rect x='{left}' y='{top}' width='{side}' height='{side}' fill='none' "
            f"stroke='{GRID}'/>"]  # fmt: skip
    most = max(int(counts.max()) if len(counts) else 0, 1)
    for lo, hi, acc, n in zip(edges[:-1], edges[1:], accuracy, counts, strict=True):
        x, w = left + lo * side, (hi - lo) * side
        if n and math.isfinite(acc):
            body.append(f"<rect x='{x + 1:.1f}' y='{top + (1 - acc) * side:.1f}' "
                        f"width='{w - 2:.1f}' height='{acc * side:.1f}' fill='{BLUE}' "
                        f"fill-opacity='0.8'><title>confidence {lo:.1f}-{hi:.1f}: {n} images, "
                        f"accuracy {acc:.3f}</title></rect>")  # fmt: skip
        bar = n / most * band
        body.append(f"<rect x='{x + 1:.1f}' y='{band_top + band - bar:.1f}' width='{w - 2:.1f}' "
                    f"height='{bar:.1f}' fill='{GREY}' fill-opacity='0.6'><title>{n} images"
                    "</title></rect>")  # fmt: skip
    body.append(f"<line x1='{left}' y1='{top + side}' x2='{left + side}' y2='{top}' "
                f"stroke='{RED}' stroke-dasharray='5 4' stroke-width='1.5'/>")  # fmt: skip
    for t in (0, 0.25, 0.5, 0.75, 1):
        body.append(f"<text x='{left + t * side}' y='{top + side + 16}' text-anchor='middle' "
                    f"fill='{GREY}'>{t:g}</text><text x='{left - 6}' "
                    f"y='{top + (1 - t) * side + 4}' text-anchor='end' fill='{GREY}'>{t:g}"
                    "</text>")  # fmt: skip
    body.append(f"<text transform='translate(14 {top + side / 2}) rotate(-90)' "
                f"text-anchor='middle' fill='{GREY}'>accuracy in bin</text>")  # fmt: skip
    body.append(f"<line x1='{left}' x2='{left + side}' y1='{band_top + band}' "
                f"y2='{band_top + band}' stroke='{GREY}'/>")  # fmt: skip
    body.append(f"<text x='{left - 6}' y='{band_top + band - 2}' text-anchor='end' "
                f"fill='{GREY}' font-size='11'>images</text>")  # fmt: skip
    body.append(f"<text x='{left + side / 2}' y='{height - 4}' text-anchor='middle' "
                f"fill='{GREY}'>confidence (probability of the predicted class)</text>")  # fmt: skip
    return _svg(width, height, body, "reliability diagram")


def f1_bars(names: list[str], f1: Sequence[float], weak: set[str]) -> str:
    """Horizontal F1 bars per class, the weak classes in orange."""
    row, label_w, bar_w = 18, min(120, 14 + 7 * max((len(n) for n in names), default=1)), 260
    width, height = label_w + bar_w + 60, 16 + row * len(names)
    body = []
    for i, (name, value) in enumerate(zip(names, f1, strict=True)):
        y = 8 + i * row
        colour = ORANGE if name in weak else BLUE
        body.append(f"<text x='{label_w - 6}' y='{y + 12}' text-anchor='end'>"
                    f"{escape(name[:16])}</text><rect x='{label_w}' y='{y + 2}' "
                    f"width='{max(value, 0) * bar_w:.1f}' height='{row - 5}' fill='{colour}'/>"
                    f"<text x='{label_w + max(value, 0) * bar_w + 4:.1f}' y='{y + 12}' "
                    f"fill='{GREY}'>{value:.3f}</text>")  # fmt: skip
    return _svg(width, height, body, "F1 per class")
