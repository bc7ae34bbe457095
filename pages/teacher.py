"""Teacher: the lesson preset, the class's runs, "send everyone to this page", the roster.

Teacher only, enforced here (not just by hiding the link): anyone else is refused before any
control is drawn, and every action passes the teacher's identity to the backend, which checks it.
"""

from __future__ import annotations

import streamlit as st

from pages.ui.class_quiz import teacher_push
from pages.ui.common import ensure_app_shell
from pages.ui.identity import current_identity
from pages.ui.teacher_class import class_code, roster_panel, run_actions, send_everyone
from pages.ui.teacher_common import lesson_caption, lesson_now, require_teacher
from pages.ui.teacher_lesson import lesson_editor

if "data_cfg" not in st.session_state:  # a deep link on a fresh server skipped app.py
    ensure_app_shell()
require_teacher()
teacher = current_identity()
assert teacher is not None  # require_teacher stopped the page otherwise
lesson = lesson_now()

st.title("Teacher")
code_col, class_col = st.columns([1, 2], gap="large")
with code_col:
    class_code()
with class_col:
    st.markdown(f"#### {lesson_caption(lesson)}")
    run_actions(lesson, teacher)
    st.markdown("#### Send everyone to a page")
    send_everyone()
    st.markdown("#### Ask the class a question")
    teacher_push()

st.divider()
editor_col, roster_col = st.columns([2, 1], gap="large")
with editor_col:
    st.markdown("#### Lesson preset")
    lesson_editor(lesson)
with roster_col:
    st.markdown("#### Class")
    roster_panel(lesson)
