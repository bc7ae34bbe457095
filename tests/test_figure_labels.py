"""Class names are user input, and Plotly reads every label, legend entry and hover text as
pseudo-HTML: a class called `<b>x</b>` must show those characters in every figure that names
classes, never bold text (the browser test checks a few pages; this checks each builder)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cnnlab import plots
from cnnlab.events import EpochEvent
from cnnlab.run_curves import class_accuracy_figure
from cnnlab.runs.compare import ClassComparison, class_bars
from cnnlab.whatif import before_after_bars

NAMES = ["<b>html</b>", "<i>two</i>", "plain"]


def _epochs() -> list[EpochEvent]:
    return [EpochEvent(epoch=e, val_acc=0.5, val_class_acc=(0.1 * e, 0.2, None)) for e in (1, 2)]


FIGURES = {
    "per-class curves": lambda: class_accuracy_figure(_epochs(), NAMES),
    "compare bars": lambda: class_bars(
        ClassComparison(pd.DataFrame({"class": NAMES, "<b>run</b>": [0.1, 0.2, 0.3]}), [])
    ),
    "confusion": lambda: plots.confusion_heatmap(np.eye(3, dtype=int), NAMES, False),
    "class counts": lambda: plots.class_counts_bar(NAMES, {"train": [3, 2, 1]}),
    "probabilities": lambda: plots.probability_bars([(n, 0.3) for n in NAMES]),
    "what-if": lambda: before_after_bars(NAMES, np.full(3, 0.3), np.full(3, 0.3)),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figures_show_class_names_as_typed(name: str) -> None:
    text = json.dumps(FIGURES[name]().to_plotly_json(), default=str)
    assert "<b>" not in text and "<i>" not in text, text[:400]
    assert "&lt;b&gt;html&lt;/b&gt;" in text  # the name is there, escaped
