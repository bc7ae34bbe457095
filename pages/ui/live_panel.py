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
    RunInfo,
    RunNotFound,
    format_duration,
    get_run,
    read_live,
    run_title,
)
from cnnlab.text import md_escape
from pages.ui.common import job_manager

REFRESH_S = 1.0  # seconds between live updates while a run is queued or running
# ... and until a started run's first loss point is on screen (target: 2 s after pressing Train)
FIRST_POINT_REFRESH_S = 0.25
CHART = {"displayModeBar": False}


def watched_run(runs: list[RunInfo]) -> str:
    """The "Watch a run" picker over `runs` (not empty); returns the run id to show.

    Options are run ids (a label is only their format): a label that changed while the browser
    held the old one comes back as a string that is no run id, and is ignored.
    """
    ids = [r.run_id for r in runs]
    run_id = followed_run(runs)
    if st.session_state.get("train_watch") != run_id:
        st.session_state.train_watch = run_id
    labels = {r.run_id: f"{run_title(r)} · {r.run_id[-6:]}" for r in runs}  # unique, stable
    st.selectbox(
        "Run",
        ids,
        format_func=lambda i: labels.get(i, str(i)),
        key="train_watch",
        on_change=_follow_watched,
        args=(ids,),
    )
    return run_id


def _follow_watched(ids: list[str]) -> None:
    chosen = st.session_state.get("train_watch")
    if chosen in ids:  # a real run id, never a stale label
        st.session_state.run_id = chosen


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def followed_run(runs: list[RunInfo]) -> str | None:
    """The session's run; else the one this page is already showing (so a run that ends stays on
    screen); else the newest running, then queued run; else the newest run."""
    ids = [r.run_id for r in runs]
    for run_id in (st.session_state.run_id, st.session_state.get("train_watch")):
        if run_id in ids:
            return run_id
    for status in ("running", "queued"):
        for info in runs:
            if info.status == status:
                return info.run_id
    return ids[0] if ids else None


def queue_text(run_id: str) -> str:
    jobs = job_manager()
    place, training = jobs.queue_position(run_id), len(jobs.running())
    where = f"{ordinal(place)} in the queue" if place else "waiting to start"
    runs = "run" if training == 1 else "runs"
    return (
        f"{where}; {training} {runs} training (at most {jobs.max_parallel} at a time on this "
        "server)"
    )


def stop_run(run_id: str, queued: bool = False) -> None:
    job_manager().stop(run_id)
    st.toast(
        "Removed from the queue." if queued else "Stopping… the best weights are kept.",
        icon=":material/stop_circle:",
    )


def resume_run(run_id: str) -> None:
    try:
        job_manager().resume(run_id)
    except ValueError as exc:
        st.toast(str(exc), icon=":material/error:")


def show_queued(view: LiveView) -> None:
    st.info(f"Queued: {queue_text(view.run_id)}.", icon=":material/hourglass_top:")
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
        disabled=stopping or bool(view.end),
        help="ends within about a second and keeps the best weights",
    )


def show_outcome(view: LiveView) -> None:
    took = format_duration(view.elapsed_s)
    if view.status == "finished":
        st.success(
            f"**Finished** {len(view.epochs)} of {view.epochs_total} "
            + ("epoch" if view.epochs_total == 1 else "epochs")
            + (f" in {took}" if took else "")
            + (f" · {view.message}" if view.message else "."),
            icon=":material/check:",
        )
    elif view.status == "stopped":
        st.info(
            f"**Stopped** ({view.message or 'by request'}). The best weights so far were kept.",
            icon=":material/stop_circle:",
        )
    elif view.status == "diverged":
        st.error(f"**Diverged.** {md_escape(view.message)}", icon=":material/warning:")
    elif view.status == "failed":
        st.error(f"**Failed.** {md_escape(view.message)}", icon=":material/error:")
        if view.error_text:
            with st.expander("Error details"):
                st.code("\n".join(view.error_text.splitlines()[-25:]))
    elif view.status == "interrupted":
        st.warning(f"**Interrupted.** {md_escape(view.message)}", icon=":material/warning:")
    if view.status in ("finished", "stopped", "interrupted") and view.epochs:
        best_epoch = view.end.best_epoch if view.end else None
        cols = st.columns(3)
        cols[0].metric(
            "Test accuracy", f"{view.test_acc:.1%}" if view.test_acc is not None else "–"
        )
        cols[1].metric(
            "Best val accuracy",
            f"{view.best_val_acc:.1%}" if view.best_val_acc is not None else "–",
            delta=f"epoch {best_epoch}" if best_epoch else None,
            delta_color="off",
            delta_arrow="off",
        )
        cols[2].metric("Images/s", f"{view.images_per_s:,.0f}" if view.images_per_s else "–")
    if view.status in ("interrupted", "failed", "stopped"):
        if view.can_resume:
            st.button(
                "Resume from the last checkpoint",
                icon=":material/replay:",
                key=f"resume_{view.run_id}",
                on_click=resume_run,
                args=(view.run_id,),
            )
    if view.status in ("finished", "stopped", "interrupted") and view.epochs:
        cols = st.columns(3)
        cols[0].page_link("pages/evaluate.py", label="Evaluate it", icon=":material/fact_check:")
        cols[1].page_link("pages/inside.py", label="Look inside", icon=":material/visibility:")
        cols[2].page_link(
            "pages/classify.py", label="Classify images", icon=":material/image_search:"
        )


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
            plots.batch_loss_curve(view.chart_batches()), config=CHART, key="live_batch_loss"
        )
    if view.epochs or view.active:
        st.caption("Per epoch: training vs validation")
        st.plotly_chart(
            epoch_figure(view.run_id, epochs_version(view), view.epochs),
            config=CHART,
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
        waiting = status == "running" and not read_live(run_id).batches  # no loss point yet
    except RunNotFound:
        st.warning("That run no longer exists.")
        return
    was_active = status in ACTIVE
    every = (FIRST_POINT_REFRESH_S if waiting else REFRESH_S) if was_active else None

    @st.fragment(run_every=every)
    def panel() -> None:
        try:
            view = read_live(run_id)
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

    panel()
