"""Projector: the big screen at the front of the room — the class's live curves, the top ten, the
queue. Large type, high contrast, few words; it refreshes itself every two seconds, reading only
the runs that changed (`ClassRuns`)."""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom.leaderboard import leaderboard
from cnnlab.classroom.projector import class_curves, curves_figure, queue_rows
from cnnlab.text import html_escape
from pages.ui.class_quiz import projector_question
from pages.ui.common import ensure_app_shell, job_manager
from pages.ui.identity import current_identity
from pages.ui.projector_parts import PROJECTOR_CSS, queue_html, top_html
from pages.ui.teacher_common import class_runs, lesson_now

REFRESH_S = 2.0  # seconds between refreshes
TOP = 10  # leaderboard rows shown

if "data_cfg" not in st.session_state:  # a deep link on a fresh server skipped app.py
    ensure_app_shell()
if current_identity() is None:
    st.info("Join the class to open the projector view.", icon=":material/login:")
    st.stop()
st.html(PROJECTOR_CSS)


@st.fragment(run_every=REFRESH_S)
def projector() -> None:
    lesson = lesson_now()
    records = class_runs().records(lesson.lesson_id)
    title = lesson.title if lesson.active else "cnnlab class"
    projector_question()  # the question in play and the class's answers, counts only
    curves_col, side_col = st.columns([2.1, 1], gap="large")
    with curves_col:
        st.html(f"<div class='proj-title'>{html_escape(title)}</div>")
        curves = class_curves(records, lesson.lesson_id)
        if curves:
            st.plotly_chart(
                curves_figure(curves, height=860),
                theme=None,  # the figure's own high-contrast colours, in any app theme
                config={"displayModeBar": False, "staticPlot": True},
                key="projector_curves",
            )
        else:
            st.html("<div class='proj-empty'>Curves appear here as runs train.</div>")
    with side_col:
        entries = leaderboard(records, lesson.lesson_id, top=TOP)
        st.html(top_html(entries))
        everyone = class_runs().records()  # the queue holds runs of any lesson (same scan)
        names = {r.run_id: r.owner.name or r.owner.user_id for r in everyone}
        st.html(queue_html(queue_rows(job_manager().projections(), names)))


projector()
