"""Queueing a run from a page: under this session's owner and rules, one run per burst of presses.

A press reruns the page, and the next press of a burst interrupts that rerun wherever the script
touches Streamlit, possibly just after the run was created and before the session could note it.
So the job manager, not the session, recognises a repeat (`JobManager.submit_once`). A press
made before the page the previous press started had finished is part of a burst, whatever its
form sent: a press landing mid-rerun can carry a half-updated form (seen once in CI: the
Augmentation toggle arrived off). A press after the page finished is a press of its own.
"""

from __future__ import annotations

import uuid

import streamlit as st

from cnnlab.config import RunConfig
from cnnlab.startconfig import config_key
from pages.ui.common import job_manager
from pages.ui.identity import submit_rules

UNSEEN = "submit_unseen"  # True from a press until a page run finishes (app.py: `press_seen`)


def submit_run(cfg: RunConfig) -> tuple[str, bool]:
    """Queue `cfg` for this session: (run id, True when it repeats this session's submit of the
    same settings a few seconds ago, or is pressed before the page the last press started had
    finished (a burst: such a press can carry a half-updated form); then no new run is made
    and the id is the first one's).
    Raises PolicyError (lesson or class limits) and OSError (the run folder) as `submit` does."""
    ss = st.session_state
    session = ss.setdefault("submit_session", uuid.uuid4().hex)
    key = f"{session}:{config_key(cfg)}"
    burst, ss[UNSEEN] = bool(ss.get(UNSEEN)), True
    rules = submit_rules()  # owner; a student's rules
    return job_manager().submit_once(cfg, key, **rules, session=session, burst=burst)


def press_seen() -> None:
    """The page run a press started has finished: the next press is a press of its own."""
    st.session_state[UNSEEN] = False
