"""The Train page's run picker and a run's outcome: which run this session watches (options are run
ids, never labels: a label that changes while a run trains must not be taken for an id), its place
in the queue and expected start, Stop and Resume (checked against the run's owner), and what a
finished, stopped or failed run shows.

The watched run lives in the URL too (`?run=<id>`): a copied link or a refresh opens the same
run. A link's run is taken once (when the URL names a run the session has not followed yet);
after that the session's choice is written back to the URL.
"""

from __future__ import annotations

import streamlit as st

from cnnlab.runs import (
    AccessDenied,
    LiveView,
    RunInfo,
    RunNotFound,
    format_duration,
    get_run,
)
from cnnlab.text import md_escape
from pages.ui.common import job_manager
from pages.ui.identity import current_identity, is_student, may_act
from pages.ui.run_pick import run_label, show_run_in_url, url_run


def watched_run(runs: list[RunInfo]) -> str:
    """The "Watch a run" picker over `runs` (not empty); returns the run id to show.

    Options are run ids (a label is only their format): a label that changed while the browser
    held the old one comes back as a string that is no run id, and is ignored.
    """
    ids = [r.run_id for r in runs]
    linked = url_run(ids)
    if linked:
        st.session_state.run_id = linked
    run_id = followed_run(runs)
    if st.session_state.get("train_watch") != run_id:
        st.session_state.train_watch = run_id
    if run_id:
        show_run_in_url(run_id)
    labels = {r.run_id: f"{run_label(r)} · {r.run_id[-6:]}" for r in runs}  # unique, stable
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
    screen); else the newest running, then queued run; else the newest run. A student's
    defaults are their own runs only (never the newest run on the server whoever made it)."""
    ids = [r.run_id for r in runs]
    for run_id in (st.session_state.run_id, st.session_state.get("train_watch")):
        if run_id in ids:
            return run_id
    if is_student():
        me = current_identity()
        runs = [r for r in runs if me is not None and r.owner.user_id == me.user_id] or runs
    for status in ("running", "queued"):
        for info in runs:
            if info.status == status:
                return info.run_id
    return runs[0].run_id if runs else None


def start_text(start_in_s: float | None) -> str:
    """The expected start: "starts in about 2 min 05 s", "as soon as a slot is free", or not
    known yet (a run ahead has no estimate: nothing like it has finished on this server)."""
    if start_in_s is None:
        return "start time not known yet"
    if start_in_s < 1:
        return "starts as soon as a slot is free"
    return f"starts in about {format_duration(start_in_s)}"


def queue_place(run_id: str) -> str:
    """ "3rd in the queue, starts in about 1 min 40 s" (the fair order's projection)."""
    projection = job_manager().projection(run_id)
    if projection is None:
        return "waiting to start"
    return f"{ordinal(projection.position)} in the queue, {start_text(projection.start_in_s)}"


def queue_text(run_id: str) -> str:
    jobs = job_manager()
    training = len(jobs.running())
    runs = "run" if training == 1 else "runs"
    return (
        f"{queue_place(run_id)}; {training} {runs} training (at most {jobs.max_parallel} at a "
        "time on this server)"
    )


def may_manage_run(run_id: str) -> bool:
    """Whether this session may stop/resume/rename/delete `run_id` (hides the buttons)."""
    try:
        return may_act(get_run(run_id, job_manager().runs_dir).owner())
    except RunNotFound:
        return False


def stop_run(run_id: str, queued: bool = False) -> None:
    try:
        job_manager().stop(run_id, current_identity())
    except AccessDenied as exc:
        st.toast(str(exc), icon=":material/block:")
        return
    st.toast(
        "Removed from the queue." if queued else "Stopping… the best weights are kept.",
        icon=":material/stop_circle:",
    )


def resume_run(run_id: str) -> None:
    try:
        job_manager().resume(run_id, current_identity())
    except (ValueError, AccessDenied) as exc:
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
    if view.can_resume and may_manage_run(view.run_id):  # with a checkpoint; owner or teacher
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
        cols[1].page_link("pages/inspect.py", label="Look inside", icon=":material/visibility:")
        cols[2].page_link(
            "pages/classify.py", label="Classify images", icon=":material/image_search:"
        )
