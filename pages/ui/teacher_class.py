"""The teacher's class controls: the class code, stop all, clear the class's runs, send everyone
to a page, and the roster. Each action goes through the checked backend with the teacher as actor.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import streamlit as st

from cnnlab.classroom.broadcast import latest, send
from cnnlab.classroom.class_runs import clear_class_runs, stop_all
from cnnlab.classroom.identity import Identity, remove_student, roster
from cnnlab.classroom.lesson import Lesson
from cnnlab.runs.tables import viewer_time
from cnnlab.text import html_escape, md_escape
from pages.ui.common import job_manager
from pages.ui.identity import classroom_on, classroom_settings
from pages.ui.run_pick import viewer_tz
from pages.ui.teacher_common import class_runs
from pages.ui.teacher_lesson import PAGES

SEND_PAGES = {"": "Home"} | PAGES  # pages students have (the projector is the teacher's)
CODE_CSS = (
    "font-size: 60px; font-weight: 800; letter-spacing: 0.1em; font-family: monospace; "
    "line-height: 1.2; padding: 0.05em 0.25em; border: 4px solid currentColor; "
    "border-radius: 12px; display: inline-block; max-width: 100%; box-sizing: border-box"
)


def class_code() -> None:
    """The code students type to join, large enough to read from the back of the room."""
    settings = classroom_settings()
    if not classroom_on():
        st.info(
            "Classroom mode is off: this is the single-user lab. Start the server with "
            "CNNLAB_CLASSROOM=1 (and CNNLAB_TEACHER_KEY) to let a class join.",
            icon=":material/info:",
        )
        return
    st.markdown("Students join with their name and this code:")
    st.html(f"<div style='{CODE_CSS}'>{html_escape(settings.class_code)}</div>")


def run_actions(lesson: Lesson, teacher: Identity) -> None:
    """Stop all and clear the class's runs (the lesson's runs; the teacher's own are spared)."""
    scope = "this lesson's" if lesson.active else "outside-a-lesson"
    row = st.container(horizontal=True)
    if row.button("Stop all", icon=":material/stop:", key="tc_stop_all",
                  help=f"stop every student's queued or running {scope} run"):  # fmt: skip
        stopped = stop_all(job_manager(), lesson.lesson_id, teacher, spare=teacher.user_id)
        class_runs().invalidate()
        st.toast(f"Stopped {len(stopped)} run(s).")
    with row.popover("Clear the class's runs", icon=":material/delete_sweep:",
                     disabled=not lesson.active):  # fmt: skip
        st.markdown(
            "Delete **every student run of this lesson** (running ones are stopped first) and "
            "empty its leaderboard? This cannot be undone."
        )
        if st.button("Delete the class's runs", type="primary", key="tc_clear"):
            with st.spinner("Stopping and deleting…"):
                done = clear_class_runs(
                    job_manager(), lesson.lesson_id, teacher, spare=teacher.user_id
                )
            class_runs().invalidate()
            note = f"Deleted {len(done.deleted)} run(s)."
            if done.still_active:
                note += f" {len(done.still_active)} still stopping: press again in a moment."
            st.toast(note)
    if not lesson.active:
        st.caption("Clearing runs needs a lesson running (it clears that lesson's runs only).")


def send_everyone() -> None:
    """Send every student's browser to a page, optionally with a share link's query string."""
    state_dir = classroom_settings().state_dir
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    page = left.selectbox("Page", list(SEND_PAGES), format_func=SEND_PAGES.get, key="tc_page")
    query = right.text_input(
        "View (optional)", key="tc_query", placeholder="e.g. run=… or a share link's ?…",
        help="the part after '?' of a share link: the dataset, model and view to open",
    )  # fmt: skip
    if st.button("Send everyone there", icon=":material/campaign:", key="tc_send"):
        query = query.strip().split("?", 1)[-1]
        try:
            parse_qsl(query, strict_parsing=bool(query))
        except ValueError:
            st.error("That view is not a query string (name=value&...): copy it from a share link.")
            return
        message = send(page, state_dir, query)
        st.toast(f"Sent everyone to {SEND_PAGES.get(message.page, message.page)}.")
    last = latest(state_dir)
    if last.sent:
        when = viewer_time(last.sent, viewer_tz()).strftime("%H:%M")
        st.caption(f"Last sent at {when}: {md_escape(SEND_PAGES.get(last.page, last.page))}")


def roster_panel(lesson: Lesson) -> None:
    """Everyone who joined, with their runs in this lesson; remove a student."""
    settings = classroom_settings()
    students = roster(settings) if classroom_on() else {}
    if not students:
        st.caption("Nobody has joined yet.")
        return
    counts: dict[str, int] = {}
    for record in class_runs().records(lesson.lesson_id):
        counts[record.owner.user_id] = counts.get(record.owner.user_id, 0) + 1
    st.caption(f"{len(students)} student(s) joined")
    for user_id, name in sorted(students.items(), key=lambda kv: kv[1].casefold()):
        cols = st.columns([3, 2], vertical_alignment="center")
        n = counts.get(user_id, 0)
        cols[0].markdown(f"{md_escape(name)} · {n} run{'s' if n != 1 else ''}")
        if cols[1].button("Remove", key=f"tc_rm_{user_id}", icon=":material/person_remove:",
                          help="take them off the list (their runs stay)"):  # fmt: skip
            remove_student(user_id, settings)
            st.toast(f"Removed {md_escape(name)}.")
            st.rerun()
