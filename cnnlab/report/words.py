"""What the HTML and Markdown renderings share: the number formats (the Evaluate page's), the
summary row, the curve and calibration tables, and the figures of a report."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from cnnlab.report import svg
from cnnlab.report.build import RunReport

MARKERS = {"bad": "✖", "warn": "▲", "info": "●", "good": "✔"}  # shown before a finding's title
TITLE = "Results report"


def pct(value: float | None) -> str:
    """A share 0..1 as the Evaluate page shows accuracy: 63.79%."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.2%}"


def num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def when(seconds: float | None) -> str:
    return "–" if not seconds else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def heading(report: RunReport) -> str:
    return f"{TITLE}: {report.dataset} · {report.model}"


def summary(report: RunReport) -> list[tuple[str, str]]:
    """(label, value) of the headline numbers; the test ones are the Evaluate page's formats."""
    ev, calib = report.evaluation, report.calibration
    done = len(report.curves.epochs)
    kept = str(report.best_epoch) if report.best_epoch else "initial"
    return [
        ("Test accuracy", pct(ev.accuracy) if ev else "–"),
        ("Test loss", num(ev.loss, 4) if ev else "–"),
        ("Macro F1", num(report.macro_f1)),
        ("ECE (10 bins)", num(calib.ece) if calib else "–"),
        ("Epochs trained", f"{done} of {report.planned_epochs}"),
        ("Kept epoch", kept),
        ("Test images", f"{len(ev.labels):,}" if ev else "–"),
    ]


def curve_rows(report: RunReport) -> list[list[str]]:
    """epoch, train loss, val loss, train acc, val acc per validated epoch."""
    c = report.curves
    partial = c.partial or [False] * len(c.epochs)
    rows = zip(c.epochs, partial, c.train_loss, c.val_loss, c.train_acc, c.val_acc, strict=True)
    return [
        [str(e) + (" (kept)" if e == report.best_epoch else "") + (" (partial)" if cut else ""),
         num(tl, 4), num(vl, 4), pct(ta), pct(va)]
        for e, cut, tl, vl, ta, va in rows
    ]  # fmt: skip


CURVE_HEADER = ["epoch", "train loss", "val loss", "train acc", "val acc"]
SCORE_HEADER = ["class", "precision", "recall", "F1", "support"]
BIN_HEADER = ["confidence", "images", "mean confidence", "accuracy"]


def score_rows(report: RunReport) -> list[list[str]]:
    """The Evaluate page's per-class table then its averages (3 decimals)."""
    rows = []
    for table in (report.scores, report.averages):
        if table is None:
            continue
        for r in table.itertuples(index=False):
            rows.append([str(r[0]), num(r.precision), num(r.recall), num(r.f1), str(r.support)])
    return rows


def bin_rows(report: RunReport) -> list[list[str]]:
    calib = report.calibration
    if calib is None:
        return []
    edges = calib.edges
    return [
        [f"{edges[i]:.1f}–{edges[i + 1]:.1f}", str(int(calib.counts[i])),
         num(calib.confidence[i]), num(calib.accuracy[i])]
        for i in range(len(calib.counts))
    ]  # fmt: skip


@dataclass(frozen=True)
class Figures:
    """The report's figures as SVG text ("" = not available)."""

    loss: str
    accuracy: str
    confusion: str
    reliability: str
    f1: str


def figures(report: RunReport) -> Figures:
    c = report.curves
    marks = [(float(report.best_epoch), "kept")] if report.best_epoch else []
    loss = svg.line_chart(
        [svg.Series("train loss", c.epochs, c.train_loss, svg.BLUE),
         svg.Series("val loss", c.epochs, c.val_loss, svg.ORANGE, dashed=True)],
        title="Loss per epoch", y_label="cross-entropy (nats)", marks=marks,
    )  # fmt: skip
    acc = svg.line_chart(
        [svg.Series("train acc", c.epochs, c.train_acc, svg.BLUE),
         svg.Series("val acc", c.epochs, c.val_acc, svg.ORANGE, dashed=True)],
        title="Accuracy per epoch", y_label="accuracy", y_range=(0.0, 1.0), marks=marks,
    )  # fmt: skip
    ev, calib = report.evaluation, report.calibration
    if ev is None or calib is None or report.scores is None:
        return Figures(loss, acc, "", "", "")
    weak = {f.subject for f in report.findings if f.rule == "weak_class"}
    names = [str(n) for n in report.scores["class"]]
    return Figures(
        loss,
        acc,
        svg.confusion_svg(ev.confusion, ev.class_names),
        svg.reliability_svg(calib.edges, calib.accuracy, calib.counts),
        svg.f1_bars(names, [float(v) for v in report.scores["f1"]], weak),
    )
