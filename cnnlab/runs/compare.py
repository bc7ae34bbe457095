"""What differs between runs: their configs' differing fields, their per-class accuracy.

`config_diff` flattens each RunConfig to dotted names (`train.lr`, `data.shapes.noise`,
`model.spec.blocks`) and keeps only the fields whose values are not all equal. Per-class
accuracy is the validation accuracy per class of each run's kept (best) epoch, from its events
(`EpochEvent.val_class_acc`); runs recorded before it existed get no column and are named.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from cnnlab.config import RunConfig, to_dict
from cnnlab.figure_style import ACCURACY_RANGE, MARGIN, TEMPLATE, message_figure
from cnnlab.runs.history import History
from cnnlab.text import html_escape


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """A config dataclass (or its dict) as {dotted name: leaf value}; tuples/lists of blocks are
    one leaf, written as compact JSON (a custom network's blocks compare as a whole)."""
    data = to_dict(config) if dataclasses.is_dataclass(config) else config
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value, separators=(",", ":"))
        else:
            flat[name] = value
    return flat


def config_diff(configs: Mapping[str, RunConfig]) -> pd.DataFrame:
    """One row per setting whose value differs between the runs (`setting` = its dotted name),
    one column per run (the mapping's keys, in order); empty when all are equal. A custom
    network's `model.spec` counts only where some run trains `custom`."""
    flats = {name: flatten(cfg) for name, cfg in configs.items()}
    if not any(cfg.model.name == "custom" for cfg in configs.values()):
        for flat in flats.values():
            for key in [k for k in flat if k.startswith("model.spec.")]:
                del flat[key]
    keys = list(dict.fromkeys(k for flat in flats.values() for k in flat))
    rows = []
    for key in keys:
        values = [flat.get(key) for flat in flats.values()]
        if any(v != values[0] for v in values[1:]):
            rows.append(
                {"setting": key, **{n: _shown(v) for n, v in zip(flats, values, strict=True)}}
            )
    return pd.DataFrame(rows, columns=["setting", *flats])


def _shown(value: Any) -> str:
    """A value as table text (one column type, so numbers and names mix cleanly)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class ClassComparison:
    """Per-class validation accuracy of several runs at their kept epoch."""

    table: pd.DataFrame  # columns: class, then one per run with the data; values in [0, 1]
    missing: list[str]  # runs without per-class accuracy (older runs, or not trained yet)


def class_accuracy(
    histories: Mapping[str, History], class_names: Mapping[str, Sequence[str]]
) -> ClassComparison:
    """The per-class table of runs (name -> history, name -> its class names); runs whose
    classes differ from the first run with data still get a column, matched by class name."""
    columns: dict[str, dict[str, float | None]] = {}
    missing = []
    for name, history in histories.items():
        epoch = history.best_epoch or history.last_epoch
        names = list(class_names.get(name, []))
        if epoch is None or not epoch.val_class_acc or len(epoch.val_class_acc) != len(names):
            missing.append(name)
            continue
        columns[name] = dict(zip(names, epoch.val_class_acc, strict=True))
    classes = list(dict.fromkeys(c for col in columns.values() for c in col))
    table = pd.DataFrame(
        {"class": classes, **{n: [col.get(c) for c in classes] for n, col in columns.items()}}
    )
    return ClassComparison(table, missing)


def class_bars(comparison: ClassComparison) -> go.Figure:
    """Grouped bars: per class, one bar per run."""
    table = comparison.table
    runs = [c for c in table.columns if c != "class"]
    if not runs:
        return message_figure("none of these runs recorded per-class accuracy")
    classes = [html_escape(c) for c in table["class"]]  # plotly reads labels as HTML: show them
    fig = go.Figure([go.Bar(x=classes, y=table[run], name=html_escape(run)) for run in runs])
    fig.update_layout(template=TEMPLATE, height=340, margin=MARGIN, barmode="group",
                      yaxis_title="validation accuracy", yaxis_tickformat=".0%",
                      yaxis_range=ACCURACY_RANGE, legend=dict(orientation="h", y=1.15))  # fmt: skip
    return fig
