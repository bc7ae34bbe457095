"""What the Evaluate page shows of a run's test report, keyed by class name (never by row).

`report_view` splits the per-class table from its averages, names the summary numbers and the
most-confused pairs, and answers "the images of this (true, predicted) cell" by class names, so
the page never indexes table rows by position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnnlab.evaluate import EvalReport, cell_indices, most_confused

AVERAGE_ROWS = ("macro avg", "weighted avg")  # the rows per_class_table appends


@dataclass(frozen=True)
class CellImages:
    """The test images of one confusion cell, most confident first."""

    indices: np.ndarray  # int (M,) positions in the test split
    probs: np.ndarray  # float (M,) the probability given to the predicted class


@dataclass(frozen=True)
class ReportView:
    """One run's test report as the Evaluate page shows it."""

    report: EvalReport
    class_scores: pd.DataFrame  # class, precision, recall, f1, support: one row per class
    averages: pd.DataFrame  # the same columns, rows "macro avg" and "weighted avg"
    macro_f1: float
    pairs: pd.DataFrame  # most confused (true, predicted, count, share_of_true), worst first
    pair_names: list[tuple[str, str]]  # (true, predicted) of each row of `pairs`

    @property
    def class_names(self) -> list[str]:
        return list(self.report.class_names)

    def worst_pair(self) -> tuple[str, str]:
        """The most confused (true, predicted) pair; the first class twice when none."""
        return self.pair_names[0] if self.pair_names else (self.class_names[0],) * 2

    def cell(self, true_name: str, pred_name: str) -> CellImages:
        """The images of class `true_name` predicted as `pred_name` (KeyError: unknown class)."""
        index = {name: i for i, name in enumerate(self.class_names)}
        t, p = index[true_name], index[pred_name]
        indices = cell_indices(self.report, t, p)
        return CellImages(indices, self.report.probs[indices, p])


def report_view(report: EvalReport, pairs: int = 10) -> ReportView:
    """The page's view of `report`, with the `pairs` most confused pairs."""
    table = report.per_class
    is_average = table["class"].isin(AVERAGE_ROWS)
    averages = table[is_average].reset_index(drop=True)
    macro = averages.set_index("class").loc["macro avg", "f1"]
    confused = most_confused(report, k=pairs)
    names = list(zip(confused["true"], confused["predicted"], strict=True))
    return ReportView(
        report=report,
        class_scores=table[~is_average].reset_index(drop=True),
        averages=averages,
        macro_f1=float(macro),
        pairs=confused,
        pair_names=[(str(t), str(p)) for t, p in names],
    )
