"""The Train page's run picker and a run's outcome: which run this session watches (options are run
ids, never labels: a label that changes while a run trains must not be taken for an id), its place
in the queue, Stop and Resume, and what a finished, stopped or failed run shows."""

from __future__ import annotations

import streamlit as st

from cnnlab.runs import (
    LiveView,
    RunInfo,
    format_duration,
    run_title,
)
from cnnlab.text import md_escape
from pages.ui.common import job_manager, viewer_tz


def watched_run(runs: list[RunInfo]) -> str:
    """The "Watch a run" picker over `runs` (not empty); returns the run id to show.

    Options are run ids (a label is only their format): a label that changed while the browser
    held the old one comes back as a string that is no run id, and is ignored.
    """
    ids = [r.run_id for r in runs]
    run_id = followed_run(runs)
    if st.session_state.get("train_watch") != run_id:
        st.session_state.train_watch = run_id
    labels = {
        r.run_id: f"{run_title(r, viewer_tz())} · {r.run_id[-6:]}" for r in runs
    }  # unique, stable
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
    if view.can_resume:  # interrupted, failed or stopped, with a checkpoint (cnnlab.runs)
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
