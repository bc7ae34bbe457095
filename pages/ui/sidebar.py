"""The sidebar every page shares: the session's dataset and model, and the latest run's status."""

from __future__ import annotations

import streamlit as st

from cnnlab.runs import list_runs
from cnnlab.runs.tables import viewer_time
from cnnlab.text import md_escape
from pages.ui.common import data_label, model_label, viewer_tz


def sidebar() -> None:
    """Current dataset, model and latest run, on every page."""
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
