"""The session's identity: who this browser is (classroom mode), or the one local user.

Every page asks `current_identity()` before it changes a run, and passes it to the backend,
which checks it (cnnlab.runs.access). Outside classroom mode it is `LOCAL` (may do anything).

In classroom mode the browser keeps a signed token (cnnlab.classroom.identity) in the cookie
`cnnlab_identity`: a new session (reload, reconnect, server restart) reads it once from the
websocket's request (`st.context.cookies`) and verifies it; the page then re-checks the token on
every full run, so a student the teacher removed from the roster is signed out at their next
click. The cookie is written and cleared by a tiny script (`cookie_script`): Streamlit has no
server-side Set-Cookie, and the cookie only has to reach the next session's request.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import streamlit as st

from cnnlab.classroom.identity import LOCAL, TOKEN_DAYS, Identity, IdentityError, issue_token
from cnnlab.classroom.identity import verify_token as _verify
from cnnlab.classroom.lesson import Lesson, admit, load_lesson
from cnnlab.classroom.settings import ClassroomSettings, load_settings
from cnnlab.config import RunConfig
from cnnlab.runs.access import RunOwner, may_manage

COOKIE = "cnnlab_identity"  # the signed token (no key, no secret inside)


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


def is_student() -> bool:
    """A signed-in student in classroom mode (the teacher and the laptop lab's user are not)."""
    identity = current_identity()
    return identity is not None and not identity.is_teacher


def may_act(owner: RunOwner) -> bool:
    """Whether this session may stop, resume, rename or delete a run of `owner` (the buttons'
    rule; the backend checks the same rule again)."""
    identity = current_identity()
    return identity is not None and may_manage(identity, owner)


def current_lesson() -> Lesson:
    """The lesson in force (classroom mode), else no lesson."""
    return load_lesson(classroom_settings().state_dir) if classroom_on() else Lesson()


def submit_rules() -> dict[str, object]:
    """`owner=` and `admit=` for JobManager.submit: the session's owner under the current lesson,
    and for a student the lesson's rules and the class limits (PolicyError when refused)."""
    if not classroom_on():
        return {"owner": run_owner()}
    lesson = current_lesson()
    rules: Callable[[RunConfig, int], RunConfig] | None = None
    if is_student():
        rules = lambda cfg, n: admit(cfg, lesson, n)  # noqa: E731
    return {"owner": run_owner(lesson.lesson_id), "admit": rules}


# -- signing in and out ---------------------------------------------------------------------------
def read_cookie() -> str:
    """The identity cookie of the request that opened this session ("" when none)."""
    try:
        return str(st.context.cookies.get(COOKIE) or "")
    except (AttributeError, RuntimeError):  # no browser request (a bare script run)
        return ""


def sign_in(identity: Identity) -> None:
    """Make `identity` this session's and hand the browser its token (see cookie_script)."""
    ss = st.session_state
    ss.identity = identity
    ss.identity_token = issue_token(identity, classroom_settings())
    ss.identity_error = ""


def sign_out(message: str = "") -> None:
    """Forget the identity; the next run shows the join screen and clears the cookie."""
    ss = st.session_state
    ss.identity, ss.identity_token, ss.identity_error = None, None, message


def restore_identity() -> Identity | None:
    """The session's identity, from the cookie on its first run, re-checked on every run
    (tampered, foreign, expired or removed: signed out with the reason for the join screen)."""
    if not classroom_on():
        return LOCAL
    ss, settings = st.session_state, classroom_settings()
    if "identity_token" not in ss:  # the session's first run: what did the browser bring?
        ss.identity, ss.identity_token, ss.identity_error = None, read_cookie() or None, ""
    token = ss.identity_token
    if token:
        try:
            ss.identity = _verify(token, settings)
        except IdentityError as exc:
            sign_out(str(exc))
    return ss.get("identity")


def _cookie_js(value: str, max_age_s: int) -> str:
    # json.dumps quotes the token for JS (it is base64url + "."; no quote can break out).
    return (
        "<script>(function(){var d=window.parent?window.parent.document:document;"
        "var s=location.protocol==='https:'?'; Secure':'';"
        f"d.cookie={json.dumps(COOKIE + '=' + value)}+'; path=/; max-age={max_age_s}"
        "; SameSite=Strict'+s;})();</script>"
    )


def cookie_script() -> None:
    """Write the session's token into the browser's cookie when it does not hold it yet, or
    clear a cookie that no longer signs anyone in (bad token, signed out). Idempotent."""
    if not classroom_on():
        return
    ss = st.session_state
    token = ss.get("identity_token")
    sent = ss.get("identity_cookie_written", read_cookie())  # what the browser holds now
    if token and token != sent:
        body = _cookie_js(token, TOKEN_DAYS * 86400)
    elif not token and sent:
        body = _cookie_js("", 0)
    else:
        return
    with st.container(height=1, border=False):  # takes no room on the page
        st.html(body, unsafe_allow_javascript=True)
    ss.identity_cookie_written = token or ""  # written once, not again on every rerun
