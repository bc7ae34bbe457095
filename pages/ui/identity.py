"""The session's identity: who this browser is (classroom mode), or the one local user.

Every page asks `current_identity()` before it changes a run, and passes it to the backend,
which checks it (cnnlab.runs.access). Outside classroom mode it is `LOCAL` (may do anything).
"""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom.identity import LOCAL, Identity
from cnnlab.classroom.settings import ClassroomSettings, load_settings
from cnnlab.runs.access import RunOwner


@st.cache_resource(show_spinner=False)
def classroom_settings() -> ClassroomSettings:
    """Read once per server process (environment and .streamlit/secrets.toml)."""
    return load_settings()


def classroom_on() -> bool:
    return classroom_settings().enabled


def current_identity() -> Identity | None:
    """LOCAL outside classroom mode; the signed-in student or teacher; None before joining."""
    if not classroom_on():
        return LOCAL
    return st.session_state.get("identity")


def run_owner(lesson: str = "") -> RunOwner:
    """The owner recorded on a run this session starts."""
    return RunOwner.of(current_identity(), lesson)
