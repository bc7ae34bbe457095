"""What the teacher, leaderboard and projector pages share: the class's runs (one cached view per
server), the lesson in force, the teacher-only gate, and "start from this recipe"."""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom.class_runs import ClassRuns
from cnnlab.classroom.lesson import Lesson, load_lesson
from cnnlab.config import default_runs_dir
from cnnlab.runs import RunNotFound, get_run
from cnnlab.text import md_escape
from pages.ui.identity import classroom_settings, current_identity


@st.cache_resource(show_spinner=False)
def _class_runs(runs_dir: str) -> ClassRuns:
    return ClassRuns(runs_dir)


def class_runs() -> ClassRuns:
    """The server's one `ClassRuns` (shared by every session: a run is re-read once per change)."""
    return _class_runs(str(default_runs_dir()))


def lesson_now() -> Lesson:
    """The lesson in force (outside classroom mode too: its state folder is beside the runs)."""
    return load_lesson(classroom_settings().state_dir)


def lesson_caption(lesson: Lesson) -> str:
    if lesson.active:
        return f"Lesson **{md_escape(lesson.title)}**"
    return "No lesson is running: runs made outside a lesson"


def require_teacher() -> None:
    """Stop the page for anyone but the teacher (the single-user lab's user counts as one)."""
    identity = current_identity()
    if not identity or not identity.is_teacher:
        st.error(
            "This page is the teacher's. Ask your teacher if you need something changed.",
            icon=":material/lock:",
        )
        st.stop()


def start_from_recipe(run_id: str) -> None:
    """Open Train with the dataset, network and hyperparameters of run `run_id`."""
    try:
        cfg = get_run(run_id).config()
    except (RunNotFound, ValueError) as exc:
        st.error(f"That recipe cannot be opened: {md_escape(exc)}", icon=":material/error:")
        return
    st.session_state.data_cfg = cfg.data
    st.session_state.model_cfg = cfg.model
    if cfg.model.name == "custom":
        st.session_state.custom_spec = cfg.model.spec
    st.session_state.recipe_run = run_id
    st.switch_page("pages/train.py")
