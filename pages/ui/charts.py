"""Plotly charts with the toolbar kept: "Download plot as a PNG" saves a file named for the chart.

`chart_config(name)` is the `config=` of `st.plotly_chart`; `chart(fig, name)` shows a figure with
it. The toolbar appears when the pointer is over a chart (plotly's default), so it never covers a
chart that is only being looked at.
"""

from __future__ import annotations

import re
from typing import Any

import plotly.graph_objects as go
import streamlit as st

# Buttons that do nothing useful on these charts (drawing tools, the plotly logo link).
_REMOVED = ["lasso2d", "select2d", "toggleSpikelines", "hoverClosestCartesian"]
PNG_SCALE = 2  # the saved PNG has twice the on-screen pixels: sharp in a report or slide


def png_filename(name: str) -> str:
    """ "Confusion matrix" -> "cnnlab-confusion-matrix" (plotly adds ".png")."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"cnnlab-{slug or 'chart'}"


def chart_config(name: str) -> dict[str, Any]:
    """`st.plotly_chart(config=...)`: the toolbar with a PNG download named after `name`."""
    return {
        "displaylogo": False,
        "modeBarButtonsToRemove": _REMOVED,
        "toImageButtonOptions": {
            "format": "png",
            "filename": png_filename(name),
            "scale": PNG_SCALE,
        },
    }


def chart(fig: go.Figure, name: str, *, where: Any = st, **kwargs: Any) -> Any:
    """Show `fig` in `where` (st, a column, a container) with the PNG toolbar; `name` says what it
    is (the PNG's file name)."""
    return where.plotly_chart(fig, config=chart_config(name), **kwargs)
