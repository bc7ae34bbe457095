"""The Model page's "start from" picker: load a preset's or a saved run's network into the custom
block editor (`designer.editor_start` says what loads, or why a network cannot be edited)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from cnnlab import designer
from cnnlab.config import ModelConfig, ModelSpec
from cnnlab.models import MODELS
from cnnlab.runs import get_run, list_runs, run_title
from cnnlab.text import md_escape

RECENT_RUNS = 30  # saved runs offered, newest first
SOURCES = ["Preset", "Saved run"]


def _preset() -> tuple[str, ModelConfig]:
    names = [name for name in MODELS.names() if name != "custom"]
    title = lambda n: MODELS.get(n).title  # noqa: E731
    name = st.selectbox("Preset", names, format_func=title, key="model_start_preset")
    return title(name), ModelConfig(name=name)


def _saved_run() -> tuple[str, ModelConfig] | None:
    runs = {info.run_id: info for info in list_runs()[:RECENT_RUNS]}
    if not runs:
        st.info("No saved runs yet: train one, or start from a preset.", icon=":material/info:")
        return None
    labels = lambda run_id: run_title(runs[run_id])  # noqa: E731
    run_id = st.selectbox("Run", list(runs), format_func=labels, key="model_start_run")
    try:
        cfg = get_run(run_id).config().model
    except (OSError, ValueError, KeyError, TypeError) as exc:
        st.warning(f"This run's config cannot be read ({md_escape(exc)}).", icon=":material/error:")
        return None
    return f"the network of run {run_id}", cfg


def start_picker(load: Callable[[ModelSpec], None]) -> None:
    """An expander to pick a preset or a saved run and load its network with `load(spec)`."""
    with st.expander("Start from a preset or a saved run's network", icon=":material/file_open:"):
        st.session_state.setdefault("model_start_from", SOURCES[0])
        source = st.segmented_control("From", SOURCES, key="model_start_from", required=True)
        chosen = _preset() if source == "Preset" else _saved_run()
        if chosen is None:
            return
        what, cfg = chosen
        start = designer.editor_start(cfg)
        if start.spec is None:
            st.info(
                f"{md_escape(what)} cannot be edited here: {start.note}.", icon=":material/block:"
            )
            return
        count = len(start.spec.blocks)
        st.caption(f"Loads {count} conv block{'s' * (count != 1)}: {md_escape(start.note)}.")
        look = dict(icon=":material/download:", type="secondary", key="model_start_load")
        st.button("Load into the editor", on_click=load, args=(start.spec,), **look)
