"""Runs: every saved run in one table; compare runs; resume, download, delete, open one.

Everything shown is read from the run folders (`list_runs`, each run's events and metrics), so the
table is the same for every session and survives server restarts. While any run is queued or
running, the table refreshes itself every few seconds.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnlab import plots
from cnnlab.runs import (
    ACTIVE,
    COMPARE_METRICS,
    RunInfo,
    compare_runs,
    delete_run,
    export_run_zip,
    get_run,
    list_runs,
    run_title,
    runs_frame,
)
from cnnlab.text import md_escape
from pages.ui.common import chart_config, ensure_app_shell, job_manager, viewer_tz

REFRESH_S = 2.0  # seconds between table refreshes while some run is active
ICONS = {  # Material icons render in every browser (status emoji need an emoji font)
    "queued": ":material/hourglass_top:",
    "running": ":material/directions_run:",
    "finished": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "diverged": ":material/trending_up:",
    "failed": ":material/error:",
    "interrupted": ":material/warning:",
}
STATUS_COLORS = {  # text colour of the status cell in the runs table
    "queued": "#6b7280",
    "running": "#2563eb",
    "finished": "#15803d",
    "stopped": "#6b7280",
    "diverged": "#b91c1c",
    "failed": "#b91c1c",
    "interrupted": "#b45309",
}
RUNS_COLUMNS = {
    "started": st.column_config.DatetimeColumn(format="D MMM HH:mm"),  # viewer's time zone
    "lr": st.column_config.NumberColumn(format="%g"),
    "best val acc": st.column_config.NumberColumn(format="percent"),
    "test acc": st.column_config.NumberColumn(format="percent"),
    "message": st.column_config.TextColumn(width="medium"),
}
COMPARE_COLUMNS = {
    c: st.column_config.NumberColumn(format="percent")
    for c in ("final train acc", "best val acc", "test acc")
} | {"test loss": st.column_config.NumberColumn(format="%.3f")}


# -- the table (refreshing while something trains) ----------------------------------------------
def runs_table(statuses: tuple[str, ...]) -> None:
    active = any(s in ACTIVE for s in statuses)

    @st.fragment(run_every=REFRESH_S if active else None)
    def table() -> None:
        runs = list_runs()
        if tuple(r.status for r in runs) != statuses:
            st.rerun()  # a run started, ended, appeared or vanished: refresh everything
        frame = runs_frame(runs, viewer_tz()).style.map(
            lambda s: f"color: {STATUS_COLORS.get(s, 'inherit')}; font-weight: 600",
            subset=["status"],
        )
        st.dataframe(
            frame,
            hide_index=True,
            column_config=RUNS_COLUMNS,
            placeholder="–",
            key="runs_table",
        )

    table()


# -- one run's actions ----------------------------------------------------------------------------
def open_in(run_id: str, page: str) -> None:
    st.session_state.run_id = run_id
    st.switch_page(page)


def manage(info: RunInfo) -> None:
    run = get_run(info.run_id)
    has_weights = run.has_weights()
    if info.message:
        st.caption(f"{ICONS.get(info.status, '')} **{info.status}**: {md_escape(info.message)}")
    row = st.container(horizontal=True)
    if row.button("Open in Train", icon=":material/play_circle:", key="runs_open_train"):
        open_in(info.run_id, "pages/train.py")
    if row.button(
        "Open in Evaluate",
        icon=":material/fact_check:",
        key="runs_open_eval",
        disabled=not has_weights or info.status in ACTIVE,
    ):
        open_in(info.run_id, "pages/evaluate.py")
    stop = resume = False
    if info.status in ACTIVE:
        stop = row.button("Stop", icon=":material/stop:", key="runs_stop")
    else:
        resume = row.button(
            "Resume",
            icon=":material/replay:",
            key="runs_resume",
            disabled=not run.can_resume(),
            help="continue an interrupted, failed or stopped run from its last checkpoint "
            "(saved after each completed epoch)",
        )
    row.download_button(
        "Download weights + config",
        data=lambda: export_run_zip(info.run_id),  # built only when clicked
        file_name=f"cnnlab-run-{info.run_id}.zip",
        mime="application/zip",
        icon=":material/download:",
        key="runs_download",
        disabled=not has_weights,
        help="a zip of the best weights (safetensors), config, metrics and events",
    )
    with row.popover("Delete", icon=":material/delete:"):
        st.markdown(f"Delete run **{info.run_id}** and its weights? This cannot be undone.")
        delete = st.button("Delete permanently", type="primary", key="runs_delete_confirm")

    try:  # act last, below the buttons, so an error shows where people look
        if stop:
            job_manager().stop(info.run_id)
        elif resume:
            job_manager().resume(info.run_id)
            st.session_state.run_id = info.run_id
        elif delete:
            delete_run(info.run_id)
            if st.session_state.run_id == info.run_id:
                st.session_state.run_id = None
    except ValueError as exc:  # an active run cannot be deleted; a run without checkpoint resumed
        st.error(str(exc), icon=":material/error:")
    else:
        if stop or resume or delete:
            st.rerun()


# -- the page -------------------------------------------------------------------------------------
if "data_cfg" not in st.session_state:  # a deep link on a fresh server skipped app.py;
    ensure_app_shell()  # (only then: its rerun would drop a button click under AppTest)
st.title("Runs")
runs = list_runs()
if not runs:
    st.info(
        "No runs yet: every training run is saved here, with its weights and curves.",
        icon=":material/info:",
    )
    st.page_link("pages/train.py", label="Train a model", icon=":material/play_circle:")
    st.stop()

by_id = {r.run_id: r for r in runs}
labels = {r.run_id: run_title(r, viewer_tz()) for r in runs}
counts = pd.Series([r.status for r in runs]).value_counts()
st.caption(f"{len(runs)} saved runs · " + " · ".join(f"{n} {s}" for s, n in counts.items()))
runs_table(tuple(r.status for r in runs))

st.subheader("Compare")
with_curves = [r.run_id for r in runs if r.best_val_acc is not None]
if st.session_state.get("runs_compare") is None or any(
    i not in by_id for i in st.session_state.runs_compare
):
    st.session_state.runs_compare = with_curves[:3]
left, right = st.columns([3, 1])
chosen = left.multiselect(
    "Runs to compare",
    list(by_id),
    format_func=labels.get,
    key="runs_compare",
    placeholder="choose runs",
)
metric = right.selectbox(
    "Curve", list(COMPARE_METRICS), format_func=COMPARE_METRICS.get, key="runs_metric"
)
if chosen:
    comparison = compare_runs([by_id[i] for i in chosen])
    fig = plots.compare_curves(comparison.curves, metric)
    if comparison.max_epochs <= 20:
        fig.update_xaxes(dtick=1)  # whole epochs only
    st.plotly_chart(fig, config=chart_config(f"runs {COMPARE_METRICS[metric]}"))
    st.dataframe(comparison.table, hide_index=True, column_config=COMPARE_COLUMNS, placeholder="–")
else:
    st.caption("Choose two or more runs to overlay their curves and compare final metrics.")

st.subheader("Manage a run")
if st.session_state.get("runs_pick") not in by_id:
    current = st.session_state.run_id
    st.session_state.runs_pick = current if current in by_id else runs[0].run_id
pick = st.selectbox("Run", list(by_id), format_func=labels.get, key="runs_pick")
manage(by_id[pick])
