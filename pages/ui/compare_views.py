"""The Runs page's comparison, second half: what differs between the chosen runs (a config diff
of only the differing settings, by dotted name) and their per-class validation accuracy side by
side (grouped bars and a table). Built by `cnnlab.runs.compare` from each run's folder."""

from __future__ import annotations

import streamlit as st

from cnnlab.runs import RunInfo, get_run, run_history
from cnnlab.runs.compare import class_accuracy, class_bars, config_diff
from cnnlab.runs.tables import short_name
from cnnlab.text import md_escape
from pages.ui.common import chart_config


def compare_details(infos: list[RunInfo]) -> None:
    """The config diff and the per-class comparison of `infos` (two or more runs)."""
    if len(infos) < 2:
        return
    runs = {short_name(i): get_run(i.run_id) for i in infos}
    st.markdown("**What differs**")
    try:
        diff = config_diff({name: run.config() for name, run in runs.items()})
    except (OSError, ValueError) as exc:
        st.warning(f"A run's config cannot be read: {md_escape(exc)}")
        return
    if diff.empty:
        st.caption("The runs have the same settings (only their seeds' luck differs, if any).")
    else:
        st.dataframe(diff, hide_index=True, key="runs_diff")
        st.caption("Only the settings whose values differ, by their config name (`train.lr` is "
                   "`--train.lr` on the command line).")  # fmt: skip
    st.markdown("**Per-class validation accuracy** (each run's kept epoch)")
    histories = {name: run_history(run) for name, run in runs.items()}
    names = {name: list(run.meta().get("class_names", [])) for name, run in runs.items()}
    comparison = class_accuracy(histories, names)
    st.plotly_chart(class_bars(comparison), config=chart_config("per-class accuracy"),
                    key="runs_class_bars")  # fmt: skip
    if len(comparison.table.columns) > 1:
        columns = {c: st.column_config.NumberColumn(format="percent")
                   for c in comparison.table.columns if c != "class"}  # fmt: skip
        with st.expander("As a table"):
            st.dataframe(comparison.table, hide_index=True, column_config=columns, key="runs_class")
    if comparison.missing:
        st.caption("Not recorded for " + ", ".join(md_escape(n) for n in comparison.missing)
                   + " (runs from before per-class accuracy was recorded, or not trained yet).")  # fmt: skip
