"""The join screen (classroom mode): a student's name and the class code, or the teacher's key.

Shown by app.py instead of any page until the session has an identity. The teacher key is typed
into a password field of a form that clears itself on submit: it is sent once to the server,
compared in constant time, and never echoed, logged, put in a URL or kept in session state.
"""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom.identity import IdentityError, join, join_sso, teacher_sign_in
from cnnlab.text import md_escape
from pages.ui.identity import classroom_settings, sign_in


def _student_form() -> None:
    with st.form("join_form", border=True):
        st.markdown("**Join as a student**")
        name = st.text_input(
            "Your name", max_chars=40, placeholder="as the class knows you", key="join_name"
        )
        code = st.text_input(
            "Class code", max_chars=12, placeholder="on the teacher's screen", key="join_code"
        )
        submitted = st.form_submit_button("Join", type="primary", icon=":material/login:")
    if submitted:
        try:
            identity = join(name, code, classroom_settings())
        except IdentityError as exc:
            st.error(md_escape(exc), icon=":material/error:")
        else:
            sign_in(identity)
            st.rerun()


def _teacher_form() -> None:
    settings = classroom_settings()
    with st.expander("Teacher sign-in", icon=":material/key:"):
        if not settings.teacher_enabled:
            st.caption("No teacher key is set on this server (CNNLAB_TEACHER_KEY).")
            return
        with st.form("teacher_form", border=False, clear_on_submit=True):  # the key is not kept
            key = st.text_input("Teacher key", type="password", autocomplete="off")
            submitted = st.form_submit_button("Sign in as the teacher", icon=":material/key:")
        if submitted:
            try:
                identity = teacher_sign_in(key, settings)
            except IdentityError as exc:
                st.error(md_escape(exc), icon=":material/error:")
            else:
                sign_in(identity)
                st.rerun()


def sso_configured() -> bool:
    """An `[auth]` section in .streamlit/secrets.toml: Streamlit's st.login (OIDC) is set up."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, OSError):
        return False


def sso_identity() -> None:
    """A student signed in by the school's single sign-on becomes this session's identity."""
    if not sso_configured() or not st.user.is_logged_in:
        return
    subject = str(st.user.get("sub") or st.user.get("email") or "")
    try:
        sign_in(join_sso(subject, str(st.user.get("name") or ""), classroom_settings()))
    except IdentityError as exc:
        st.session_state.identity_error = str(exc)


def _sso_button() -> None:
    if sso_configured():
        if st.button("Sign in with your school account", type="primary", icon=":material/badge:"):
            st.login()
        st.caption("or join with your name and the class code:")


def join_screen() -> None:
    """The whole screen before joining; the reason a previous sign-in was refused, if any."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("cnnlab: join the class")
        st.caption(
            "This lab is running in classroom mode: join with your name and the class code, so "
            "your runs are yours (only you and the teacher can stop, rename or delete them)."
        )
        problem = st.session_state.get("identity_error")
        if problem:
            st.error(md_escape(problem), icon=":material/gpp_bad:")
        _sso_button()
        _student_form()
        _teacher_form()
