"""The report as one Markdown file: tables for every number, figures and example images as
data-URI images (no file beside it, no request). Text from the run (class names, messages) is
escaped so it shows as typed and never becomes a link, an image or HTML."""

from __future__ import annotations

import base64
import re

from cnnlab.report import words
from cnnlab.report.build import RunReport
from cnnlab.text import ZWSP

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!])")  # what can start Markdown markup in running text


def prose(text: object) -> str:
    """Running text for Markdown: markup characters escaped, autolinks broken with an invisible
    word joiner (`://`, `www.`, `@`), one line. Numbers and sentences read as written."""
    out = _SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ").replace("\r", " ")
    out = out.replace("://", ":" + ZWSP + "//").replace("@", ZWSP + "@")
    return re.sub(r"(?i)www\.", lambda m: m.group(0)[:3] + ZWSP + ".", out)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(prose(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def image(svg_text: str, alt: str) -> str:
    if not svg_text:
        return ""
    data = base64.b64encode(svg_text.encode()).decode("ascii")
    return f"![{alt}](data:image/svg+xml;base64,{data})"


def findings(report: RunReport) -> list[str]:
    lines = []
    for f in report.findings:
        lines.append(f"- {words.MARKERS[f.severity]} **{prose(f.title)}**: {prose(f.text)}")
        if f.step:
            lines.append(f"  - *Next:* {prose(f.step)}")
    return lines or ["- Nothing to diagnose: no curves and no test evaluation."]


def pairs(report: RunReport) -> list[str]:
    if not report.pairs:
        return ["No mistakes on the test set." if report.evaluation else "No test evaluation."]
    rows = ["| true | predicted | count | share of true | examples (most confident first) |",
            "|---|---|---|---|---|"]  # fmt: skip
    for p in report.pairs:
        pictures = " ".join(f"![#{e.index} {e.prob:.0%}]({e.uri})" for e in p.examples)
        rows.append(f"| {prose(p.true)} | {prose(p.predicted)} | {p.count} | "
                    f"{words.pct(p.share)} | {pictures} |")  # fmt: skip
    return rows


CONFUSION_TABLE_MAX = 20  # classes: a larger matrix is only shown as the figure


def confusion_table(report: RunReport) -> list[str]:
    """The confusion counts as a table (for viewers that do not show data-URI images)."""
    ev = report.evaluation
    if ev is None or len(ev.class_names) > CONFUSION_TABLE_MAX:
        return []
    header = ["true \\ predicted", *ev.class_names]
    rows = [[name, *map(str, row)] for name, row in zip(ev.class_names, ev.confusion, strict=True)]
    return [table([prose(h) for h in header], rows), ""]


def to_markdown(report: RunReport) -> str:
    """The whole report as Markdown text."""
    figs = words.figures(report)
    head, values = zip(*words.summary(report), strict=True)
    out = [
        f"# {prose(words.heading(report))}",
        "",
        f"Run `{report.run_id}` · status **{report.status}** · started {words.when(report.created)}"
        f" · generated {words.when(report.generated)} by cnnlab {report.version}",
        "",
    ]
    if report.message:
        out += [f"> {prose(report.message)}", ""]
    out += [table(list(head), [list(values)]), "", "## Diagnosis and next steps", ""]
    out += findings(report) + [""]
    if report.missing:
        out += ["## What is missing", ""] + [f"- {prose(m)}" for m in report.missing] + [""]
    out += ["## Training curves", ""]
    if report.curves.epochs:
        out += [image(figs.loss, "loss per epoch") + " " + image(figs.accuracy, "accuracy"), "",
                table(words.CURVE_HEADER, words.curve_rows(report)), ""]  # fmt: skip
    else:
        out += ["No epoch was validated: no curves.", ""]
    if report.evaluation is not None:
        out += ["## Per-class scores (test split)", "", image(figs.f1, "F1 per class"), ""]
        out += [table(words.SCORE_HEADER, words.score_rows(report)), ""]
        out += ["## Confusion matrix", "", "Rows are the true classes, columns the predictions.",
                "", image(figs.confusion, "confusion matrix"), ""]  # fmt: skip
        out += confusion_table(report)
        out += ["## Most confused pairs", ""] + pairs(report) + [""]
        calib = report.calibration
        out += ["## Calibration", "", image(figs.reliability, "reliability diagram"), "",
                f"Expected calibration error (10 equal-width bins): **{words.num(calib.ece)}**; "
                f"mean confidence {words.pct(calib.mean_confidence)}, accuracy "
                f"{words.pct(calib.accuracy_all)}.", "",
                table(words.BIN_HEADER, words.bin_rows(report)), ""]  # fmt: skip
    out += ["## Configuration", "", table(["setting", "value"], [list(r) for r in report.config])]
    return "\n".join(out) + "\n"
