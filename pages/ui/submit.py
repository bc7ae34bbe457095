"""Queueing a run from a page: under this session's owner and rules, one run per burst of presses.

A press reruns the page, and the next press of a burst interrupts that rerun wherever the script
touches Streamlit, possibly just after the run was created and before the session could note it.
So the job manager, not the session, recognises a repeat (`JobManager.submit_once`).
"""

from __future__ import annotations

import uuid

import streamlit as st

from cnnlab.config import RunConfig
from cnnlab.startconfig import config_key
from pages.ui.common import job_manager
from pages.ui.identity import submit_rules


def submit_run(cfg: RunConfig) -> tuple[str, bool]:
    """Queue `cfg` for this session: (run id, True when it repeats this session's submit of the
    same settings a few seconds ago, or comes within a burst of presses; then no new run is made
    and the id is the first one's).
    Raises PolicyError (lesson or class limits) and OSError (the run folder) as `submit` does."""
    session = st.session_state.setdefault("submit_session", uuid.uuid4().hex)
    key = f"{session}:{config_key(cfg)}"
    rules = submit_rules()  # owner; a student's rules
    return job_manager().submit_once(cfg, key, **rules, session=session)
