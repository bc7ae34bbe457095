"""Evaluate's "Results report": the run's diagnosis and next steps, its calibration and weakest
classes, the downloads (one self-contained HTML file, Markdown) and a preview of the file.

The report is built from the `EvalReport` the page already shows (`cnnlab.report.build_report`),
so every number equals the page's. It is built only while the expander is open (its state is in
the URL: `?report=true` opens it, which is where the Learn page's "results report" link lands).
"""

from __future__ import annotations

import base64

import streamlit as st
import torch

from cnnlab.evaluate import EvalReport
from cnnlab.report import RunReport, build_report
from cnnlab.report.to_html import to_html
from cnnlab.report.to_markdown import prose, to_markdown
from cnnlab.report.words import figures, num, pct
from cnnlab.runs import Run

LINK_QUERY = {"report": "true"}  # the query parameter that opens the section (Learn's link)
BOXES = {"bad": st.error, "warn": st.warning, "info": st.info, "good": st.success}
ICONS = {"bad": ":material/error:", "warn": ":material/warning:", "info": ":material/info:",
         "good": ":material/check_circle:"}  # fmt: skip
PREVIEW_HEIGHT = 900  # pixels of the file preview (it scrolls inside)


@st.cache_data(show_spinner="Writing the report…", max_entries=4)
def _files(
    run_id: str, weights_version: float, updated: float, _run: Run, _evaluation: EvalReport,
    _test_x: torch.Tensor,
) -> tuple[RunReport, str, str]:  # fmt: skip
    """The report, its HTML and its Markdown; the first three arguments only key the cache (a
    new epoch or new weights make a new report)."""
    report = build_report(_run, _evaluation, _test_x)
    return report, to_html(report), to_markdown(report)


def _box(severity: str, text: str) -> None:
    BOXES[severity](text, icon=ICONS[severity])


def _findings(report: RunReport) -> None:
    """One box per finding; the weak classes share one box (one line each)."""
    weak = [f for f in report.findings if f.rule == "weak_class"]
    for f in report.findings:
        if f.rule == "weak_class":
            if f is weak[0]:
                lines = [f"- **{prose(w.subject)}**: {prose(w.text)} {prose(w.step)}" for w in weak]
                _box("warn", "**Weakest classes**\n\n" + "\n".join(lines))
            continue
        text = f"**{prose(f.title)}**  \n{prose(f.text)}"
        _box(f.severity, text + (f"  \n**Next:** {prose(f.step)}" if f.step else ""))
    for note in report.missing:
        st.caption(f":material/info: {prose(note)}")


def _svg(svg_text: str) -> None:
    if svg_text:
        st.image(svg_text)


def _downloads(report: RunReport, html_text: str, md_text: str) -> None:
    left, right, note = st.columns([1, 1, 3], vertical_alignment="center")
    name = f"report-{report.run_id}"
    left.download_button(
        "HTML file", html_text.encode(), f"{name}.html", "text/html",
        icon=":material/download:", key="report_html", on_click="ignore",
    )  # fmt: skip
    right.download_button(
        "Markdown", md_text.encode(), f"{name}.md", "text/markdown",
        icon=":material/download:", key="report_md", on_click="ignore",
    )  # fmt: skip
    note.caption(
        f"One file each ({len(html_text) / 1024:,.0f} kB HTML): figures and example images "
        "inside, no external request, ready to send. CLI: `python -m cnnlab report RUN --html "
        "OUT.html --md OUT.md`."
    )


def _measurements(report: RunReport) -> None:
    figs = figures(report)
    if report.curves.epochs:
        curves_col, acc_col = st.columns(2)
        with curves_col:
            _svg(figs.loss)
        with acc_col:
            _svg(figs.accuracy)
    calib = report.calibration
    if calib is None:
        return
    rel_col, f1_col = st.columns(2, gap="large")
    with rel_col:
        st.markdown("**Calibration** (reliability diagram, 10 bins)")
        _svg(figs.reliability)
        st.caption(
            f"Expected calibration error **{num(calib.ece)}**: mean confidence "
            f"{pct(calib.mean_confidence)} against accuracy {pct(calib.accuracy_all)}. On the "
            "dashed diagonal, a confidence of p is right p of the time."
        )
    with f1_col:
        st.markdown("**F1 per class** (weak classes in orange)")
        _svg(figs.f1)


def report_section(run: Run, evaluation: EvalReport, test_x: torch.Tensor) -> None:
    """The collapsible report section of the Evaluate page for `run` and its test `evaluation`."""
    box = st.expander(
        "Results report: diagnosis, calibration and next steps (HTML / Markdown download)",
        icon=":material/summarize:",
        key="report",
        bind="query-params",
    )
    with box:
        if not box.open:
            st.caption("Open to build the report.")
            return
        updated = run.status().updated or 0.0  # a new epoch or outcome rewrites the status
        report, html_text, md_text = _files(
            run.run_id, run.weights_version(), updated, run, evaluation, test_x
        )
        _downloads(report, html_text, md_text)
        st.markdown("#### Diagnosis and next steps")
        _findings(report)
        st.markdown("#### Measurements")
        _measurements(report)
        if st.toggle("Preview the whole report (as the HTML file shows it)", key="report_preview"):
            uri = "data:text/html;base64," + base64.b64encode(html_text.encode()).decode()
            st.iframe(uri, height=PREVIEW_HEIGHT)  # a data: URL: its own origin, no app access
