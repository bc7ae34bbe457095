"""The sidebar every page shares: the session's dataset and model, and the latest run's status."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from cnnlab.runs import list_runs
from cnnlab.runs.tables import viewer_time
from cnnlab.text import md_escape
from pages.ui.common import data_label, model_label, viewer_tz


def preload_charts() -> None:
    """A 1-pixel empty chart, so the browser loads plotly's script (several MB) while Home is
    read, not after Quick start's click: that load was 2-2.5 s of the first loss point's wait."""
    with st.container(height=1, border=False):
        st.plotly_chart(_empty_figure(), config={"staticPlot": True}, key="preload_charts")


@st.cache_resource(show_spinner=False)
def _empty_figure() -> go.Figure:
    return go.Figure(layout=dict(height=10, margin=dict(l=0, r=0, t=0, b=0)))


def sidebar(preload: bool = False) -> None:
    """Current dataset, model and latest run, on every page (`preload`: see preload_charts)."""
    with st.sidebar:
        st.markdown("**Current setup**")
        st.markdown(
            f":material/photo_library: {md_escape(data_label(st.session_state.data_cfg))}  \n"
            f":material/account_tree: {md_escape(model_label(st.session_state.model_cfg))}"
        )
        runs = list_runs()
        if runs:
            latest = runs[0]
            when = viewer_time(latest.created, viewer_tz()).strftime("%H:%M")
            st.markdown(f":material/history: latest run ({when}): **{latest.status}**")
        else:
            st.caption("No runs yet.")
        if preload:
            preload_charts()
