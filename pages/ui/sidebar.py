"""The sidebar every page shares: who you are (classroom mode), the session's dataset and model,
and the latest run's status (a student's own latest run, with its queue place and expected start).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from cnnlab.runs import RunInfo, list_runs
from cnnlab.runs.tables import viewer_time
from cnnlab.text import md_escape
from pages.ui.classroom_sidebar import who_am_i
from pages.ui.common import data_label, model_label
from pages.ui.identity import classroom_on, current_identity, is_student
from pages.ui.run_pick import viewer_tz
from pages.ui.run_status import queue_place


def preload_charts() -> None:
    """A 1-pixel empty chart, so the browser loads plotly's script (several MB) while Home is
    read, not after Quick start's click: that load was 2-2.5 s of the first loss point's wait."""
    with st.container(height=1, border=False):
        st.plotly_chart(_empty_figure(), config={"staticPlot": True}, key="preload_charts")


@st.cache_resource(show_spinner=False)
def _empty_figure() -> go.Figure:
    return go.Figure(layout=dict(height=10, margin=dict(l=0, r=0, t=0, b=0)))


def latest_run_line(runs: list[RunInfo]) -> None:
    """The latest run (a student's own): its status and, while queued, its place and start."""
    if is_student():
        me = current_identity()
        runs = [r for r in runs if me is not None and r.owner.user_id == me.user_id]
    if not runs:
        st.caption("No runs of yours yet." if is_student() else "No runs yet.")
        return
    latest = runs[0]
    when = viewer_time(latest.created, viewer_tz()).strftime("%H:%M")
    whose = "your latest run" if classroom_on() else "latest run"
    st.markdown(f":material/history: {whose} ({when}): **{latest.status}**")
    if latest.status == "queued":
        st.caption(f":material/hourglass_top: {queue_place(latest.run_id)}")


def sidebar(preload: bool = False) -> None:
    """Current dataset, model and latest run, on every page (`preload`: see preload_charts)."""
    with st.sidebar:
        if classroom_on():
            who_am_i()
            st.divider()
        st.markdown("**Current setup**")
        st.markdown(
            f":material/photo_library: {md_escape(data_label(st.session_state.data_cfg))}  \n"
            f":material/account_tree: {md_escape(model_label(st.session_state.model_cfg))}"
        )
        latest_run_line(list_runs())
        if preload:
            preload_charts()
