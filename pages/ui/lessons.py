"""What the Learn page's lesson tabs share: the tab labels, the two-column layout and the chart
options. The lessons themselves: `lessons_convolution` (tab 1), `lessons_features` (tabs 2-4),
`lessons_learning` (tabs 5-6); their maths and figures are in `cnnlab.learn`."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from pages.ui.charts import chart_config

TABS = [
    "1 · Convolution",
    "2 · Activation",
    "3 · Pooling",
    "4 · From maps to classes",
    "5 · Learning",
    "6 · Your model",
]


_CACHED: dict[Callable, Callable] = {}  # figure builder -> its cached wrapper


def cached(builder: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """`builder` with its figures cached per arguments: a slider move rebuilds one figure, not all
    ten, and a new visitor rebuilds none (issue 13: Learn cost 0.5-0.6 s of server CPU per view).
    st.cache_resource: built once, shared by every session, never mutated (st.plotly_chart only
    reads a figure)."""
    if builder not in _CACHED:
        _CACHED[builder] = st.cache_resource(max_entries=64, show_spinner=False)(builder)
    return _CACHED[builder]


def plot(name: str) -> dict:
    """st.plotly_chart options: full width, the toolbar's PNG download named `name`."""
    return dict(width="stretch", config=chart_config(f"learn {name}"))


def lesson_columns() -> tuple[DeltaGenerator, DeltaGenerator]:
    """(text, result): the explanation on the left, the controls and their result on the right."""
    text, result = st.columns([1, 2.3], gap="large")
    return text, result
