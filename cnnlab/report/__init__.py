"""A run's results and analysis report (issue 17.4): built from what the run measured.

- `calibration` the reliability diagram's bins and the expected calibration error
- `diagnosis`   the rules: small functions over curves, classes and calibration, thresholds named
- `build`       `RunReport` (the data) from a run folder + the Evaluate page's `EvalReport`
- `svg`         the figures as inline SVG (no plotting library, no external request)
- `words`       the formats, tables and figures both renderings share
- `to_html`, `to_markdown` the two downloadable renderings (one self-contained file each)
"""

from cnnlab.report.build import RunReport, build_report, report_for_run
from cnnlab.report.calibration import Reliability, reliability
from cnnlab.report.diagnosis import Curves, Finding

__all__ = [
    "Curves",
    "Finding",
    "Reliability",
    "RunReport",
    "build_report",
    "reliability",
    "report_for_run",
]
