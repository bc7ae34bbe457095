"""Choosing a run: the runs that have weights, their labels, the `?run=` link, and the picker the
Evaluate, Inspect, Classify and Learn pages open with."""

from __future__ import annotations

import streamlit as st

from cnnlab.runs import LoadedModel, RunInfo, WeightsError, list_runs, run_title
from cnnlab.text import md_escape
from pages.ui import common
from pages.ui.identity import classroom_on, current_identity, is_student

FINISHED = ("finished", "stopped", "interrupted", "diverged")  # runs that may have weights


def runs_with_weights() -> list[RunInfo]:  # newest first
    return [r for r in list_runs(with_weights=True) if r.status in FINISHED]


def viewer_tz() -> str | None:
    """The browser's IANA time zone (None before the browser has told us: the server's is used)."""
    return st.context.timezone


def run_label(info: RunInfo) -> str:
    """A run's label; in classroom mode it names who started it."""
    return run_title(info, viewer_tz(), owner=classroom_on())


def url_run(ids: list[str]) -> str | None:
    """The run a link names (`?run=<id>`), once: when it is one of `ids` and the session has not
    taken this link's run yet (afterwards the session's own choice wins and is written back)."""
    linked = st.query_params.get("run")
    if linked in ids and st.session_state.get("url_run_taken") != linked:
        st.session_state.url_run_taken = linked
        return linked
    return None


def show_run_in_url(run_id: str) -> None:
    """Put the shown run in the URL (`?run=`): a refresh or a copied link opens it again."""
    st.session_state.url_run_taken = run_id  # our own write, not a link to follow later
    if st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id


def default_run(runs: list[RunInfo]) -> str | None:
    """Which of `runs` (newest first) a page shows first: the link's run, else the session's run,
    else the newest; for a student the newest of their own (None when they have none)."""
    ids = [r.run_id for r in runs]
    linked = url_run(ids)
    if linked:
        st.session_state.run_id = linked
    if st.session_state.run_id in ids:
        return st.session_state.run_id
    if is_student():
        me = current_identity()
        own = [r.run_id for r in runs if me is not None and r.owner.user_id == me.user_id]
        return own[0] if own else None
    return ids[0] if ids else None


def pick_trained_run(key: str) -> LoadedModel:
    """A selectbox of runs that have weights (default: see `default_run`); the pick goes in the
    URL (`?run=`), so a link opens the same model.

    Stops the page with a helpful message when there is none or it cannot be loaded.
    """
    runs = runs_with_weights()
    if not runs:
        msg = "No trained model yet. Train one first — a few seconds on the built-in shapes data."
        st.info(msg, icon=":material/info:")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/play_circle:")
        st.stop()
    ids = [r.run_id for r in runs]
    labels = {r.run_id: run_label(r) for r in runs}
    current = default_run(runs)
    index = ids.index(current) if current in ids else None
    run_id = st.selectbox(
        "Run", ids, index=index, format_func=labels.get, key=key, placeholder="choose a run"
    )
    if run_id not in ids:  # none of the student's own yet (or a stale label): say what to do
        st.info(
            "You have no trained model of your own yet: train one (a few seconds on the shapes "
            "data), or choose a classmate's run above.",
            icon=":material/info:",
        )
        st.page_link("pages/train.py", label="Go to Train", icon=":material/play_circle:")
        st.stop()
    show_run_in_url(run_id)
    try:
        loaded = common.loaded_model(run_id)
    except WeightsError as exc:
        st.error(str(exc))
        st.stop()
    meta = loaded.meta
    st.caption(
        f"Dataset **{md_escape(meta.get('dataset_title', loaded.config.data.name))}** · architecture "
        f"**{meta.get('model_title', loaded.config.model.name)}** · "
        f"{meta.get('params', 0):,} parameters · {len(loaded.class_names)} classes"
    )
    return loaded
