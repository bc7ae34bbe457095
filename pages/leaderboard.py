"""Leaderboard: each student's best test accuracy in the lesson, live, with "start from this recipe".

The rows come from the server's shared view of the class's runs (`ClassRuns`: a run is re-read
only when its status changed), so thirty sessions refreshing every two seconds cost little.
"""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom.leaderboard import leaderboard
from pages.ui.common import ensure_app_shell
from pages.ui.identity import current_identity
from pages.ui.teacher_board import board
from pages.ui.teacher_common import class_runs, lesson_caption, lesson_now

REFRESH_S = 2.0  # seconds between refreshes of the table

if "data_cfg" not in st.session_state:  # a deep link on a fresh server skipped app.py
    ensure_app_shell()
st.title("Leaderboard")
identity = current_identity()
if identity is None:
    st.info("Join the class to see the leaderboard.", icon=":material/login:")
    st.stop()


@st.fragment(run_every=REFRESH_S)
def live_board() -> None:
    lesson = lesson_now()
    entries = leaderboard(class_runs().records(lesson.lesson_id), lesson.lesson_id)
    st.caption(
        f"{lesson_caption(lesson)} · best test accuracy per student; equal accuracy: the "
        "faster training ranks first · updates by itself"
    )
    board(entries, identity.user_id)


live_board()
