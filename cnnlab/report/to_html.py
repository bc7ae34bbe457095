"""The report as one self-contained HTML file: inline CSS, inline SVG figures, example images as
data-URI PNGs; no script, no font, no stylesheet or image fetched from anywhere (a strict
Content-Security-Policy meta tag makes the browser refuse any request that slips in). Every piece
of text from the run is HTML-escaped."""

from __future__ import annotations

from html import escape

from cnnlab.report import words
from cnnlab.report.build import RunReport

# Nothing may load from outside the file: data: images only, inline styles, no scripts.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--soft:#f9fafb;--blue:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:var(--ink);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1020px;margin:24px auto;background:#fff;padding:32px 40px;border-radius:10px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;padding-bottom:4px;
border-bottom:1px solid var(--line)}
.meta{color:var(--muted);font-size:13px}.meta code{font-size:12px}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;
background:#dbeafe;color:#1e40af}.status.stopped,.status.interrupted{background:#fef3c7;
color:#92400e}.status.diverged,.status.failed{background:#fee2e2;color:#991b1b}
.message{margin:12px 0;padding:8px 12px;background:var(--soft);border-left:3px solid #9ca3af}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(118px,1fr));gap:10px;
margin:18px 0}.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .label{color:var(--muted);font-size:12px}.card .value{font-size:20px;font-weight:600}
.finding{border:1px solid var(--line);border-left:4px solid #9ca3af;border-radius:6px;
padding:8px 12px;margin:8px 0}.finding.bad{border-left-color:#dc2626}
.finding.warn{border-left-color:#ea580c}.finding.info{border-left-color:#2563eb}
.finding.good{border-left-color:#16a34a}.finding .title{font-weight:600}
.finding .next{margin-top:4px}.finding .next b{color:var(--blue)}
.row{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}.row>div{min-width:0}
.row>div.grow{flex:1 1 320px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:right}
th{background:var(--soft);font-weight:600}td:first-child,th:first-child{text-align:left}
tr.weak td{background:#fff7ed}tr.avg td{font-weight:600;background:var(--soft)}
.thumbs{display:flex;gap:6px;flex-wrap:wrap}.thumb{text-align:center;font-size:11px;
color:var(--muted)}.thumb img{display:block;image-rendering:pixelated;border:1px solid
var(--line);width:56px;height:56px;object-fit:contain;background:#000}
.pair{margin:10px 0 14px}.pair .what{font-weight:600}
ul.missing li{margin:3px 0}.note{color:var(--muted);font-size:13px}
footer{margin-top:32px;color:var(--muted);font-size:12px}
"""


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        css = f" class='{classes[i]}'" if classes and classes[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _findings(report: RunReport) -> str:
    parts = []
    for f in report.findings:
        step = f"<div class='next'><b>Next:</b> {escape(f.step)}</div>" if f.step else ""
        parts.append(
            f"<div class='finding {f.severity}' data-rule='{f.rule}'><div class='title'>"
            f"{words.MARKERS[f.severity]} {escape(f.title)}</div><div>{escape(f.text)}</div>"
            f"{step}</div>"
        )
    return "".join(parts) or "<p class='note'>Nothing to diagnose: no curves, no test.</p>"


def _pairs(report: RunReport) -> str:
    if not report.pairs:
        return "<p>No mistakes on the test set.</p>"
    parts = []
    for p in report.pairs:
        thumbs = "".join(
            f"<div class='thumb'><img src='{e.uri}' alt='test image {e.index}'>#{e.index} "
            f"{e.prob:.0%}</div>"
            for e in p.examples
        )
        parts.append(
            f"<div class='pair'><div class='what'>{escape(p.true)} → {escape(p.predicted)}: "
            f"{p.count} images ({words.pct(p.share)} of {escape(p.true)})</div>"
            f"<div class='thumbs'>{thumbs}</div></div>"
        )
    return "".join(parts) + (
        "<p class='note'>Under each image: its test index and the probability given to the "
        "wrong class (most confident mistakes first).</p>"
    )


def _evaluation(report: RunReport, figs: words.Figures) -> str:
    if report.evaluation is None:
        return ""
    weak = {f.subject for f in report.findings if f.rule == "weak_class"}
    rows = words.score_rows(report)
    classes = ["avg" if r[0] in ("macro avg", "weighted avg") else "weak" if r[0] in weak
               else "" for r in rows]  # fmt: skip
    calib = report.calibration
    return (
        "<h2>Per-class scores (test split)</h2><div class='row'>"
        f"<div>{_table(words.SCORE_HEADER, rows, classes)}</div><div>{figs.f1}</div></div>"
        "<p class='note'>Precision: of the images predicted as a class, the share that are it. "
        "Recall: of a class's images, the share found. Weak classes are highlighted.</p>"
        "<h2>Confusion matrix</h2><p class='note'>Rows are the true classes, columns the "
        f"predictions; colour = share of the row.</p>{figs.confusion}"
        f"<h2>Most confused pairs</h2>{_pairs(report)}"
        f"<h2>Calibration</h2><div class='row'><div>{figs.reliability}</div><div class='grow'>"
        f"<p>Expected calibration error (10 equal-width bins): <b>{words.num(calib.ece)}</b>"
        f"<br>Mean confidence {words.pct(calib.mean_confidence)}, accuracy "
        f"{words.pct(calib.accuracy_all)}.</p>{_table(words.BIN_HEADER, words.bin_rows(report))}"
        "<p class='note'>Bars: accuracy of the images whose confidence falls in the bin; on the "
        "dashed diagonal a confidence of p is right p of the time. Grey: images per bin.</p>"
        "</div></div>"
    )


def _config(report: RunReport) -> str:
    """One small table per config section, side by side."""
    sections: dict[str, list[list[str]]] = {}
    for key, value in report.config:
        section, _, name = key.partition(".")
        sections.setdefault(section, []).append([name or section, value])
    tables = "".join(
        f"<div>{_table([section, ''], rows)}</div>" for section, rows in sections.items()
    )
    return f"<div class='row'>{tables}</div>"


def to_html(report: RunReport) -> str:
    """The whole report as one HTML document."""
    figs = words.figures(report)
    cards = "".join(
        f"<div class='card'><div class='label'>{escape(k)}</div>"
        f"<div class='value'>{escape(v)}</div></div>"
        for k, v in words.summary(report)
    )
    message = f"<div class='message'>{escape(report.message)}</div>" if report.message else ""
    missing = ""
    if report.missing:
        items = "".join(f"<li>{escape(m)}</li>" for m in report.missing)
        missing = f"<h2>What is missing</h2><ul class='missing'>{items}</ul>"
    curves = "<p class='note'>No epoch was validated: no curves.</p>"
    if report.curves.epochs:
        curves = f"<div class='row'>{figs.loss}{figs.accuracy}</div>" + _table(
            words.CURVE_HEADER, words.curve_rows(report)
        )
    status = escape(report.status)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(words.heading(report))}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{escape(words.heading(report))}</h1><div class='meta'>Run <code>"
        f"{escape(report.run_id)}</code> · <span class='status {status}'>{status}</span> · "
        f"started {words.when(report.created)}</div>{message}<div class='cards'>{cards}</div>"
        f"<h2>Diagnosis and next steps</h2>{_findings(report)}{missing}"
        f"<h2>Training curves</h2>{curves}"
        f"{_evaluation(report, figs)}"
        f"<h2>Configuration</h2>{_config(report)}"
        f"<footer>Generated {words.when(report.generated)} by cnnlab {escape(report.version)} "
        "from the run's recorded events and a fresh evaluation of its kept weights on the test "
        "split (the numbers of the Evaluate page).</footer></main></body></html>"
    )
