"""The URL as the session's memory: share links, refresh-proof state, locked controls.

Each page that takes part calls `begin()` under its title and `end(slot)` at its bottom:
- `begin` reads the URL's parameters (`cnnlab.sharelink`) once per session (a fresh browser, a
  refresh) or when in-app navigation brings new ones, and puts them into the session: dataset,
  model, custom network, the Train form's values (handed to the form as `share_pending`), the
  Evaluate cell, the Learn tab and kernel, and the link's locks. Then the lesson's rules apply
  (classroom mode, students): the lesson's dataset and network replace the session's.
- `end` writes the session's state back into the URL (only this module's parameters; `run`
  belongs to the run picker), so a refresh keeps it, and fills the "Share link" box.
The identity is a cookie and never goes into a URL; a link cannot lift a lesson's rules.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from cnnlab import sharelink
from cnnlab.classroom.lesson import Lesson, load_lesson
from cnnlab.config import DataConfig, ModelConfig, TrainConfig
from cnnlab.recipes import default_run_config
from cnnlab.sharelock import Rules, rules_for
from cnnlab.text import md_escape
from pages.ui.identity import classroom_on, classroom_settings, current_identity

OTHER_KEYS = ("run",)  # other modules' parameters a copied link keeps (never an identity)
EDITOR_PREFIX = "blk"  # the Model page's editor widget keys (re-seeded from a new network)
LEARN_TABS_KEY, KERNEL_KEY, DEFAULT_KERNEL = "learn_tab", "learn_kernel", "sobel x"
# The view's widget keys: Streamlit drops a widget's state on pages that do not draw it, so
# their last values are kept in `share_view` and put back when a page starts (`recall`).
VIEW_WIDGETS = ("evaluate_true", "evaluate_pred", LEARN_TABS_KEY, KERNEL_KEY)
# A press sends the browser's URL as it was then; in a burst it can be one this session wrote a
# few reruns ago. The last URLs it wrote are kept so that such an echo is not read as a new link.
PUBLISHED_KEPT = 16


def _app_model() -> ModelConfig:
    return default_run_config(DataConfig().name).model  # what a fresh session starts with


def recipe_train(data: DataConfig) -> TrainConfig:
    """The hyperparameters a fresh Train form starts from on `data` (what links leave out)."""
    return default_run_config(data.name).train


def lesson_for_session() -> tuple[Lesson | None, bool]:
    """(the lesson in force, is this session a student?); (None, False) outside classroom mode."""
    if not classroom_on():
        return None, False
    identity = current_identity()
    return load_lesson(classroom_settings().state_dir), identity is None or not identity.is_teacher


def rules() -> Rules:
    """This session's locks, hidden controls and ranges (the link's, then the lesson's)."""
    link = st.session_state.get("share_link") or sharelink.SharedState()
    lesson, student = lesson_for_session()
    return rules_for(link, recipe_train(st.session_state.data_cfg), lesson, student)


def _url_params() -> dict[str, str]:
    return {k: st.query_params[k] for k in sharelink.KEYS if k in st.query_params}


def _apply(state: sharelink.SharedState) -> None:
    """Put a link's state into the session (only the parts the link carries)."""
    ss = st.session_state
    if state.data is not None:
        ss.data_cfg = state.data
    if state.editor_spec is not None:
        ss.custom_spec = state.editor_spec
        for key in [k for k in ss if str(k).startswith(EDITOR_PREFIX)]:
            del ss[key]
    if state.model is not None:
        ss.model_cfg = state.model
    if state.train or state.augment is not None:
        ss.share_pending = {"train": dict(state.train), "augment": state.augment}  # the form's
        ss.share_form = None  # (pages/ui/share_form.py) next start
    view, remembered = state.view, dict(ss.get("share_view") or {})
    if view.true_class is not None and view.pred_class is not None:
        remembered |= {"evaluate_true": view.true_class, "evaluate_pred": view.pred_class}
    if view.tab is not None:
        from pages.ui.lessons import TABS

        remembered[LEARN_TABS_KEY] = TABS[view.tab - 1]
    from cnnlab.learn import KERNEL_NAMES

    if view.kernel in KERNEL_NAMES:
        remembered[KERNEL_KEY] = view.kernel
    ss.update(remembered)
    ss.share_view, ss.share_link = remembered, state


def recall() -> None:
    """Put the view's remembered widget values back where Streamlit dropped them."""
    ss = st.session_state
    for key, value in (ss.get("share_view") or {}).items():
        if key not in ss:
            ss[key] = value


def restore() -> None:
    """Read the URL into the session when it is new to it (see the module docstring)."""
    ss, params = st.session_state, _url_params()
    ours = params == ss.get("share_seen") or params in ss.get("share_published", ())
    if "share_seen" in ss and (not params or ours):
        return  # in-app navigation dropped the URL, or it is one we wrote: the session knows best
    decoded = sharelink.decode(params)
    _apply(decoded.state)
    ss.share_seen, ss.share_problems = params, decoded.problems


def enforce(current: Rules) -> None:
    """The lesson's dataset and network replace the session's (a student cannot pick others)."""
    ss = st.session_state
    if current.data is not None and ss.data_cfg != current.data:
        ss.data_cfg = current.data
    if current.model is not None and ss.model_cfg != current.model:
        ss.model_cfg = current.model
        if current.model.name == "custom":
            ss.custom_spec = current.model.spec


def session_state() -> sharelink.SharedState:
    """What the session shows now, as a link carries it."""
    ss = st.session_state
    link = ss.get("share_link") or sharelink.SharedState()
    form = ss.get("share_form")  # the Train form's last values (pages/ui/share_form.py)
    if not form or form["data"] != ss.data_cfg:
        form = ss.get("share_pending") or {}
    train, augment = form.get("train", {}), form.get("augment")
    remembered = dict(ss.get("share_view") or {})
    remembered |= {k: ss[k] for k in VIEW_WIDGETS if k in ss}
    ss.share_view = remembered
    tab, kernel = remembered.get(LEARN_TABS_KEY), remembered.get(KERNEL_KEY)
    from pages.ui.lessons import TABS

    view = sharelink.ViewState(
        remembered.get("evaluate_true"),
        remembered.get("evaluate_pred"),
        TABS.index(tab) + 1 if tab in TABS and tab != TABS[0] else None,
        kernel if kernel and kernel != DEFAULT_KERNEL else None,
    )
    return sharelink.SharedState(
        ss.data_cfg, ss.model_cfg, ss.custom_spec, train, augment, view, link.lock, link.hide
    )


def publish() -> dict[str, str]:
    """Write the session's state into the URL (changed parameters only); returns them."""
    ss = st.session_state
    params = sharelink.encode(session_state(), recipe_train(ss.data_cfg), _app_model())
    ss.share_seen = params  # noted before the URL is sent: the send may end this rerun
    earlier = [p for p in ss.get("share_published", ()) if p != params]
    ss.share_published = [params, *earlier][:PUBLISHED_KEPT]
    if _url_params() != params:  # in one message: key by key, a rerun cut short between two
        # sends left half a link in the URL, which the next press read as a new one
        others = {k: v for k, v in st.query_params.to_dict().items() if k not in sharelink.KEYS}
        st.query_params.from_dict(others | params)
    return params


def share_url(params: dict[str, str]) -> str:
    """This page's address with the state's parameters (and the watched run's)."""
    keep = {k: st.query_params[k] for k in OTHER_KEYS if k in st.query_params}
    base = st.context.url or ""
    query = urllib.parse.urlencode(params | keep, quote_via=urllib.parse.quote)
    return base + ("?" + query if query else "")


def begin() -> tuple[DeltaGenerator, Rules]:
    """Restore from the URL, apply the lesson, publish; returns the share box's slot and the
    session's rules."""
    restore()
    recall()
    current = rules()
    enforce(current)
    slot = st.empty()
    _share_box(slot, publish())
    problems: Any = st.session_state.pop("share_problems", ())
    if problems:
        st.warning(
            "Parts of this link could not be used (their defaults are kept): "
            + md_escape("; ".join(problems)),
            icon=":material/link_off:",
        )
    return slot, current


def end(slot: DeltaGenerator) -> None:
    """Publish what the page changed, and refresh the share box."""
    _share_box(slot, publish())


def _share_box(slot: DeltaGenerator, params: dict[str, str]) -> None:
    with slot.container():
        with st.popover("Share link", icon=":material/share:"):
            st.caption(
                "This page with your dataset, model, hyperparameters and view. The link holds no "
                "sign-in: whoever opens it is themselves."
            )
            st.code(share_url(params), language=None, wrap_lines=True)


def lock_caption(
    current: Rules, controls: list[str], labels: dict[str, str], where: Any = st
) -> None:
    """One caption per lock source naming the locked controls of `controls` (in `where`)."""
    by_why: dict[str, list[str]] = {}
    for name in controls:
        if name in current.locked and name not in current.hidden:
            by_why.setdefault(current.why(name), []).append(labels.get(name, name))
    for why, names in by_why.items():
        where.caption(f":material/lock: {why[0].upper() + why[1:]}: {', '.join(names)}.")
