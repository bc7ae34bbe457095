"""The sidebar's classroom part: who you are (and, for the teacher, the class code in large type),
Sign out, and the receiver of the teacher's "send everyone to this page".

The receiver is a fragment that reads one small file every few seconds (cnnlab.classroom
.broadcast) and switches a student's page once per message, with the message's query string.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from cnnlab.classroom import broadcast
from cnnlab.text import md_escape
from pages.ui.identity import classroom_settings, current_identity, sign_out

POLL_S = 3.0  # seconds between checks for the teacher's message (one small file read)
REPLAY_S = 60.0  # a message this recent still takes a student who opens the lab just after it


def who_am_i() -> None:
    """Name and role; the teacher also sees the class code to read out; Sign out."""
    me = current_identity()
    if me is None:
        return
    badge = " :violet-badge[teacher]" if me.is_teacher else " :gray-badge[student]"
    st.markdown(f":material/person: **{md_escape(me.name)}**{badge}")
    if me.is_teacher:
        st.metric("Class code", classroom_settings().class_code, help="students join with it")
    st.button("Sign out", icon=":material/logout:", key="sign_out", on_click=sign_out)


def _first_seen() -> float:
    """What a new session counts as already seen: messages older than REPLAY_S seconds."""
    last = broadcast.latest(classroom_settings().state_dir)
    return last.sent if time.time() - last.sent > REPLAY_S else 0.0


def broadcast_receiver(pages: dict[str, StreamlitPage]) -> None:
    """For a student: follow the teacher's "send everyone to this page" once per message.

    `pages`: url path ("" = Home) -> the page registered for this session (a page the lesson
    hides, or an unknown one, is not followed)."""
    me = current_identity()
    if me is None or me.is_teacher:
        return
    if "broadcast_seen" not in st.session_state:
        st.session_state.broadcast_seen = _first_seen()

    @st.fragment(run_every=POLL_S)
    def receiver() -> None:
        state_dir = classroom_settings().state_dir
        message = broadcast.pending(state_dir, st.session_state.broadcast_seen)
        if message is None:
            return
        st.session_state.broadcast_seen = message.sent
        target = pages.get(message.page)
        if target is not None:
            st.switch_page(target, query_params=dict(parse_qsl(message.query)))

    receiver()
