"""The Runs page's per-run actions and, in classroom mode, its Mine / Class / All filter.

Every Stop, Resume, Rename and Delete passes the session's identity to the backend, which refuses
(AccessDenied) anyone but the run's owner and the teacher; the buttons are not even drawn on
someone else's run for a student (a hidden button is a courtesy, the backend check is the lock).
"""

from __future__ import annotations

import streamlit as st

from cnnlab.runs import (
    ACTIVE,
    AccessDenied,
    RunInfo,
    delete_run,
    export_run_zip,
    get_run,
    rename_run,
)
from cnnlab.runs.manage import MAX_RUN_NAME
from cnnlab.runs.tables import owner_name
from cnnlab.text import md_escape
from pages.ui.common import job_manager
from pages.ui.identity import (
    classroom_on,
    current_identity,
    current_lesson,
    is_student,
    may_act,
)

ICONS = {  # Material icons render in every browser (status emoji need an emoji font)
    "queued": ":material/hourglass_top:",
    "running": ":material/directions_run:",
    "finished": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "diverged": ":material/trending_up:",
    "failed": ":material/error:",
    "interrupted": ":material/warning:",
}
FILTERS = ("Mine", "Class", "All")


def filter_runs(runs: list[RunInfo], choice: str) -> list[RunInfo]:
    """Mine: this session's runs; Class: the current lesson's (no lesson: every classroom run,
    the laptop lab's own runs left out); All: every run on the server."""
    me = current_identity()
    if choice == "Mine" and me is not None:
        return [r for r in runs if r.owner.user_id == me.user_id]
    if choice == "Class":
        lesson = current_lesson().lesson_id
        if lesson:
            return [r for r in runs if r.owner.lesson == lesson]
        return [r for r in runs if owner_name(r)]
    return runs


def run_filter(runs: list[RunInfo]) -> tuple[list[RunInfo], str]:
    """The Mine / Class / All control (classroom mode only; otherwise "All": every run), and
    the filter it chose."""
    if not classroom_on():
        return runs, "All"
    default = "Mine" if is_student() else "Class"
    choice = st.segmented_control(
        "Show", FILTERS, default=default, key="runs_filter", help="whose runs to list"
    )
    return filter_runs(runs, choice or default), choice or default


def _rename(info: RunInfo) -> bool:
    """A popover to give the run a name; True when it was renamed."""
    with st.popover("Rename", icon=":material/edit:"):
        name = st.text_input(
            "Name", value=info.name, max_chars=MAX_RUN_NAME, key=f"runs_name_{info.run_id}"
        )
        return st.button("Save the name", key="runs_rename_confirm") and _act(
            lambda: rename_run(info.run_id, name, job_manager().runs_dir, current_identity())
        )


def _act(action) -> bool:  # noqa: ANN001 - a no-argument callable
    """Run a backend action; show its refusal (not yours, still active...) where people look."""
    try:
        action()
    except AccessDenied as exc:
        st.error(md_escape(exc), icon=":material/block:")
        return False
    except ValueError as exc:  # an active run cannot be deleted; a run without checkpoint resumed
        st.error(md_escape(exc), icon=":material/error:")
        return False
    return True


def _owner_actions(info: RunInfo, row) -> None:  # noqa: ANN001 - a horizontal container
    """Stop or Resume, Rename, Delete: for the run's owner and the teacher only."""
    run, me = get_run(info.run_id), current_identity()
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
    with row:
        renamed = _rename(info)
    with row.popover("Delete", icon=":material/delete:"):
        st.markdown(f"Delete run **{info.run_id}** and its weights? This cannot be undone.")
        delete = st.button("Delete permanently", type="primary", key="runs_delete_confirm")
    jobs, done = job_manager(), renamed
    if stop:  # act last, below the buttons, so an error shows where people look
        done = _act(lambda: jobs.stop(info.run_id, me))
    elif resume:
        done = _act(lambda: jobs.resume(info.run_id, me))
        if done:
            st.session_state.run_id = info.run_id
    elif delete:
        done = _act(lambda: delete_run(info.run_id, jobs.runs_dir, me))
        if done and st.session_state.run_id == info.run_id:
            st.session_state.run_id = None
    if done:
        st.rerun()


def open_in(run_id: str, page: str) -> None:
    st.session_state.run_id = run_id
    st.switch_page(page)


def manage(info: RunInfo) -> None:
    """One run's buttons: open it, download it, and (owner or teacher) stop/resume/rename/delete."""
    has_weights = get_run(info.run_id).has_weights()
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
    if may_act(info.owner):
        _owner_actions(info, row)
    else:
        who = owner_name(info) or "the lab"
        st.caption(
            f":material/lock: This is {md_escape(who)}'s run: only they or the teacher can stop, "
            "resume, rename or delete it."
        )
