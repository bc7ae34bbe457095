"""What the Learn page's lesson tabs share: the tab labels, the two-column layout and the chart
options, the links into the lab. The lessons: `lessons_convolution` (tab 1), `lessons_features`
(tabs 2-4), `lessons_learning` (tabs 5-6), `lessons_backprop` (7), `lessons_norm` (8),
`lessons_overfit` (9), `lessons_augment` (10), `lessons_quiz` (the questions under each); their
maths and figures are in `cnnlab.learn`."""

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
    "7 · Backpropagation",
    "8 · Batch-norm & dropout",
    "9 · Overfitting",
    "10 · Augmentation",
]
# Tab number (1-based) of each lesson that has questions (cnnlab.learn.questions.LESSONS).
LESSON_TABS = {
    "convolution": 1, "activation": 2, "pooling": 3, "classes": 4, "learning": 5,
    "backprop": 7, "norm": 8, "overfit": 9, "augment": 10,
}  # fmt: skip
# Where each idea shows up in a real run: (page, label, icon, caption naming the view).
LAB_VIEWS = {
    "filmstrip": ("pages/inspect.py", "Inspect: Filmstrip", ":material/movie:",
                  "your run's feature maps and filters, epoch by epoch"),
    "embedding": ("pages/inspect.py", "Inspect: Embedding", ":material/scatter_plot:",
                  "the classes pulling apart in the last layer as it trains"),
    "lr_finder": ("pages/train.py", "Train: LR finder", ":material/speed:",
                  "the learning rate that makes each step large but safe"),
    "class_curves": ("pages/evaluate.py", "Evaluate: per-class curves", ":material/show_chart:",
                     "validation accuracy per class per epoch, and the overfitting gap"),
    "report": ("pages/evaluate.py", "Evaluate: results report", ":material/summarize:",
               "what the measurements say about your run"),
    "model": ("pages/model.py", "Model: the block editor", ":material/account_tree:",
              "the Batch-norm and Dropout settings of each block"),
    "data": ("pages/data.py", "Data: augmentation", ":material/photo_library:",
             "the augmentation your runs train with, previewed on your data"),
}  # fmt: skip
# Views that a query parameter opens inside their page (pages/ui/report_view.py LINK_QUERY).
LAB_QUERY = {"report": {"report": "true"}}


_CACHED: dict[Callable, Callable] = {}  # figure builder -> its cached wrapper


def cached(builder: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """`builder` with its figures cached per arguments: a slider move rebuilds one figure, not all
    ten, and a new visitor rebuilds none (issue 13: Learn cost 0.5-0.6 s of server CPU per view).
    st.cache_resource: built once, shared by every session, never mutated (st.plotly_chart only
    reads a figure)."""
    if builder not in _CACHED:
        _CACHED[builder] = st.cache_resource(max_entries=64, show_spinner=False)(builder)
    return _CACHED[builder]


def see_in_lab(*views: str) -> None:
    """ "See this in your run": links to the lab's views where the lesson's idea shows up."""
    st.markdown("**See this in your run**")
    for name in views:
        page, label, icon, caption = LAB_VIEWS[name]
        query = {"show": name, **LAB_QUERY.get(name, {})}  # view_link; the report opens itself
        st.page_link(page, label=label, icon=icon, query_params=query)
        st.caption(caption)


def plot(name: str) -> dict:
    """st.plotly_chart options: full width, the toolbar's PNG download named `name`."""
    return dict(width="stretch", config=chart_config(f"learn {name}"))


def lesson_columns() -> tuple[DeltaGenerator, DeltaGenerator]:
    """(text, result): the explanation on the left, the controls and their result on the right."""
    text, result = st.columns([1, 2.3], gap="large")
    return text, result
