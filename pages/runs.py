"""Runs: every saved run in one table; compare runs; resume, rename, download, delete, open one.

Everything shown is read from the run folders (`list_runs`, each run's events and metrics), so the
table is the same for every session and survives server restarts. While any run is queued or
running, the table refreshes itself every few seconds. In classroom mode the table names each
run's owner and filters Mine / Class / All (pages/ui/classroom_runs.py).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnlab import plots
from cnnlab.runs import ACTIVE, COMPARE_METRICS, compare_runs, list_runs, runs_frame
from pages.ui.classroom_runs import filter_runs, manage, run_filter
from pages.ui.common import chart_config, ensure_app_shell
from pages.ui.compare_views import compare_details
from pages.ui.export_panel import export_panel, import_panel
from pages.ui.identity import classroom_on
from pages.ui.run_pick import run_label, viewer_tz

REFRESH_S = 2.0  # seconds between table refreshes while some run is active
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
def runs_table(statuses: tuple[str, ...], choice: str) -> None:
    active = any(s in ACTIVE for s in statuses)

    @st.fragment(run_every=REFRESH_S if active else None)
    def table() -> None:
        runs = filter_runs(list_runs(), choice)
        if tuple(r.status for r in runs) != statuses:
            st.rerun()  # a run started, ended, appeared or vanished: refresh everything
        frame = runs_frame(runs, viewer_tz(), owner=classroom_on()).style.map(
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
    import_panel()  # a run zip from elsewhere
    st.stop()

runs, choice = run_filter(runs)  # classroom mode: Mine / Class / All
if not runs:
    st.info("No runs here yet: choose **All** to see everyone's.", icon=":material/info:")
    st.stop()
by_id = {r.run_id: r for r in runs}
labels = {r.run_id: run_label(r) for r in runs}
counts = pd.Series([r.status for r in runs]).value_counts()
st.caption(f"{len(runs)} saved runs · " + " · ".join(f"{n} {s}" for s, n in counts.items()))
runs_table(tuple(r.status for r in runs), choice)

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
    compare_details([by_id[i] for i in chosen])
else:
    st.caption("Choose two or more runs to overlay their curves and compare final metrics.")

st.subheader("Manage a run")
if st.session_state.get("runs_pick") not in by_id:
    current = st.session_state.run_id
    st.session_state.runs_pick = current if current in by_id else runs[0].run_id
pick = st.selectbox("Run", list(by_id), format_func=labels.get, key="runs_pick")
manage(by_id[pick])
export_panel(by_id[pick])  # ONNX + training script downloads
import_panel()
