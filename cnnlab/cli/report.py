"""`cnnlab report [RUN] --html OUT.html --md OUT.md`: a run's results and analysis report.

The numbers are the Evaluate page's (the same `cnnlab.evaluate.evaluate` call on the test split);
the diagnosis and next steps are printed as well, so a terminal user sees them without a file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnnlab.cli import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a run's results and analysis report (HTML and/or Markdown)",
        description=(
            "The configuration, curves, test scores, confusion matrix, most-confused pairs, "
            "calibration, a diagnosis and next steps of a run, as one self-contained HTML file "
            "(no external request) and/or Markdown. Without --html/--md: the diagnosis only."
        ),
    )
    p.add_argument("run", nargs="?", help="run id (default: the latest finished run)")
    p.add_argument("--html", metavar="OUT.html", help="write the report as one HTML file")
    p.add_argument("--md", metavar="OUT.md", help="write the report as Markdown")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from cnnlab.cli.commands import resolve_run
    from cnnlab.jsonio import atomic_write_bytes
    from cnnlab.report import report_for_run
    from cnnlab.report.to_html import to_html
    from cnnlab.report.to_markdown import to_markdown
    from cnnlab.report.words import MARKERS, heading, summary

    run_id = resolve_run(args.run, args.runs_dir)
    report = report_for_run(run_id, args.runs_dir)
    print(f"{heading(report)} (run {run_id}, {report.status})")
    print("  " + " · ".join(f"{label} {value}" for label, value in summary(report)))
    for finding in report.findings:
        print(f"{MARKERS[finding.severity]} {finding.title}: {finding.text}")
        if finding.step:
            print(f"    next: {finding.step}")
    for note in report.missing:
        print(f"missing: {note}", file=sys.stderr)
    for path, render in ((args.html, to_html), (args.md, to_markdown)):
        if path:
            atomic_write_bytes(Path(path), render(report).encode("utf-8"))
            print(f"wrote {path}")
    return EXIT_OK
