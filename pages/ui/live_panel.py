"""The Train page's live panel: the followed run's progress, ETA, Stop/Resume and charts.

`watched_run` is the "Watch a run" picker; `live_panel` is a fragment that re-reads the run
folder every REFRESH_S seconds while the run is queued or running and renders once, statically,
when it has ended.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from cnnlab import plots
from cnnlab.events import EpochEvent
from cnnlab.runs import (
    ACTIVE,
    LiveView,
    RunNotFound,
    format_duration,
    get_run,
)
from cnnlab.runs.live import LiveTail
from pages.ui import watch_views
from pages.ui.common import chart_config, job_manager
from pages.ui.run_status import may_manage_run, queue_text, show_outcome, stop_run

REFRESH_S = 1.0  # seconds between live updates while a run is queued or running
# ... and until a started run's first loss point is on screen (target: 2 s after pressing Train)
FIRST_POINT_REFRESH_S = 0.25
STOP_SHORTCUT = "Alt+S"  # Option+S on a Mac; the Train button is Ctrl+Enter (train_form.py)


def show_queued(view: LiveView) -> None:
    st.info(f"Queued: {queue_text(view.run_id)}.", icon=":material/hourglass_top:")
    if not may_manage_run(view.run_id):  # a classmate's run (the backend refuses too)
        return
    st.button(
        "Remove from the queue",
        icon=":material/close:",
        key=f"unqueue_{view.run_id}",  # not stop_: that key belongs to the running view's Stop
        on_click=stop_run,
        args=(view.run_id, True),
    )


def show_progress(view: LiveView) -> None:
    stopping = view.stop_requested
    if view.end:
        st.progress(view.progress, text="training done: saving weights, measuring test accuracy…")
    elif stopping:
        st.progress(
            view.progress, text="stopping: ending the epoch early, keeping the best weights…"
        )
    elif not view.start:
        st.progress(0.0, text=f"starting: {view.message or 'launching the job'}…")
    else:
        elapsed = format_duration(view.elapsed_s)
        parts = [
            view.epoch_text,
            f"step {view.step:,}/{view.total_steps:,}",
            f"{view.progress:.0%}",
            elapsed and f"{elapsed} so far",
            view.eta_text,
        ]
        st.progress(view.progress, text=" · ".join(p for p in parts if p))
    cols = st.columns(4)
    speed = f"{view.images_per_s:,.0f}" if view.images_per_s else "–"
    cols[0].metric("Images/s", speed)
    cols[1].metric("Learning rate", f"{view.lr:.3g}" if view.lr is not None else "–")
    cols[2].metric("Batch loss", f"{view.loss:.3f}" if view.loss is not None else "–")
    cols[3].metric(
        "Best val accuracy", f"{view.best_val_acc:.1%}" if view.best_val_acc is not None else "–"
    )
    st.button(
        "Stop",
        icon=":material/stop:",
        key=f"stop_{view.run_id}",
        on_click=stop_run,
        args=(view.run_id,),
        disabled=stopping or bool(view.end) or not may_manage_run(view.run_id),
        shortcut=STOP_SHORTCUT,
        help=f"ends within about a second and keeps the best weights (shortcut: {STOP_SHORTCUT})",
    )


@st.cache_resource(max_entries=32, show_spinner=False)
def _tail(run_id: str, runs_dir: str) -> LiveTail:
    return LiveTail(run_id, runs_dir)


def read_view(run_id: str) -> LiveView:
    """The run's live view from its shared tail (new event bytes only; one disk read per 0.2 s
    for all sessions watching it). Raises RunNotFound."""
    return _tail(run_id, str(job_manager().runs_dir)).read(max_age_s=0.2)


def epochs_version(view: LiveView) -> tuple:
    last = view.epochs[-1] if view.epochs else None
    return len(view.epochs), last and last.epoch, last and last.elapsed


@st.cache_resource(max_entries=16, show_spinner=False)
def epoch_figure(run_id: str, version: tuple, _epochs: list[EpochEvent]) -> go.Figure:
    """Per-epoch curves change once an epoch, so build them once per (run, epochs seen, time of
    the last one) instead of every second. Shared and cached: never mutated."""
    return plots.training_curves(_epochs)


def show_charts(view: LiveView) -> None:
    if view.batches or view.active:
        st.caption("Training loss per batch")
        st.plotly_chart(
            plots.batch_loss_curve(view.chart_batches()),
            config=chart_config(f"batch loss {view.run_id}"),
            key="live_batch_loss",
        )
    if view.epochs or view.active:
        st.caption("Per epoch: training vs validation")
        st.plotly_chart(
            epoch_figure(view.run_id, epochs_version(view), view.epochs),
            config=chart_config(f"epoch curves {view.run_id}"),
            key="live_epoch_curves",
        )
    if view.epochs and not view.active:
        with st.expander("Per-epoch numbers"):
            st.dataframe(
                view.epoch_frame(),
                hide_index=True,
                column_config={
                    "epoch": st.column_config.NumberColumn(format="%d"),
                    **{
                        c: st.column_config.NumberColumn(format="percent")
                        for c in ("train_acc", "val_acc")
                    },
                    "lr": st.column_config.NumberColumn(format="%.3g"),
                    "elapsed": st.column_config.NumberColumn("elapsed (s)", format="%.1f"),
                },
            )


def live_panel(run_id: str) -> None:
    """The followed run; refreshes itself only while the run is queued or running."""
    try:
        status = get_run(run_id).status().status
        # No loss point yet, and it comes soon: running, or queued with no job ahead of it.
        soon = status == "running" or (status == "queued" and not job_manager().running())
        waiting = soon and not read_view(run_id).batches
    except RunNotFound:
        st.warning("That run no longer exists.")
        return
    was_active = status in ACTIVE
    every = (FIRST_POINT_REFRESH_S if waiting else REFRESH_S) if was_active else None

    @st.fragment(run_every=every)
    def panel() -> None:
        try:
            view = read_view(run_id)
        except RunNotFound:
            st.warning("That run was deleted.")
            return
        if view.active != was_active or (waiting and view.batches):
            # ended, or its first point came: re-render the whole page, so the refresh cadence
            # fits again (none once ended; REFRESH_S once points flow). A queued run that starts
            # is shown by the fragment itself: a full rerun there lost the Stop button's element
            # under load (tests/test_load_sessions.py).
            st.rerun()
        if view.status == "queued":
            show_queued(view)
            return
        if view.active:
            show_progress(view)
            jobs = job_manager()
            if view.status == "running" and jobs.queued():
                st.caption(
                    f"{len(jobs.queued())} more queued · at most {jobs.max_parallel} "
                    "at a time on this server"
                )
        else:
            show_outcome(view)
        show_charts(view)
        watch_views.live_watch(run_id)  # the filmstrip and embedding of its latest snapshot

    panel()
