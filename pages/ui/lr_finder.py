"""The Train page's "Find a learning rate" panel: the LR range test of the form's settings on the
session's dataset and model (`cnnlab.lrfind`), its curve and suggestion, and one click that puts
the suggestion into the form's learning-rate box.

The test trains a fresh copy of the model for ~100 steps in this server process (a few seconds
for the presets on small sets): no run is created and the model the next run trains is built
anew by that run. Results are cached per config (`st.cache_data`), so the session keeps only
the config's key.
"""

from __future__ import annotations

import json

import streamlit as st

from cnnlab.config import AugmentConfig, RunConfig, run_config_from_dict, to_dict
from cnnlab.data import DatasetUnavailable
from cnnlab.lrfind import METHOD_TEXT, LRFinding, finder_config, lr_find
from cnnlab.run_curves import lr_finder_figure
from cnnlab.startconfig import StartConfig, run_config
from cnnlab.text import md_escape
from pages.ui.common import chart_config, dataset_for
from pages.ui.share_form import KEYS
from pages.ui.view_link import landed, scroll_to

ANCHOR = "lr-finder"
RESULT = "lrf_key"  # session_state: the config key of the finding on screen


@st.cache_data(show_spinner=False, max_entries=16)
def _finding(key: str) -> LRFinding:
    cfg = run_config_from_dict(json.loads(key))
    return lr_find(cfg, dataset_for(cfg.data))


def _use(value: float) -> None:
    """The button's callback: before the form is drawn, so its widget takes the value."""
    st.session_state[KEYS["lr"]] = float(f"{value:.2g}")


def _config(start: StartConfig, fields: dict) -> RunConfig | None:
    ss = st.session_state
    augment = start.dataset_augment if ss.get("tr_augment") else AugmentConfig()
    try:
        return run_config(start, model=ss.model_cfg, augment=augment, **fields)
    except ValueError as exc:
        st.error(f"These settings cannot be tested: {md_escape(exc)}", icon=":material/error:")
        return None


def lr_finder(start: StartConfig, fields: dict, locked: bool) -> None:
    """The panel under the form; `locked`: the learning rate is fixed by a link or a lesson."""
    ss = st.session_state
    if landed("lr_finder"):  # the Learn page's link
        ss.lrf_open = True
        scroll_to(ANCHOR)
    st.html(f'<div id="{ANCHOR}"></div>', width="content")
    with st.expander("Find a learning rate", icon=":material/speed:",
                     expanded=bool(ss.get("lrf_open") or ss.get(RESULT))):  # fmt: skip
        st.caption(
            "Trains a fresh copy of this model for ~100 steps while the learning rate grows "
            "from 0.00001 to 10, and plots the loss against it. Too low: the loss barely moves; "
            "too high: it blows up. No run is saved and the run you then train is not changed."
        )
        cfg = _config(start, fields)
        if cfg is None:
            return
        key = json.dumps(to_dict(finder_config(cfg)), sort_keys=True)  # the lr does not count
        if st.button("Run the learning-rate finder", icon=":material/speed:", key="lrf_run"):
            try:
                with st.spinner("Ramping the learning rate over ~100 steps…"):
                    _finding(key)
            except (DatasetUnavailable, ValueError, RuntimeError) as exc:
                st.error(f"The finder could not run: {md_escape(exc)}", icon=":material/error:")
                return
            ss[RESULT] = key
        if ss.get(RESULT) != key:
            if ss.get(RESULT):
                st.caption("The settings changed since the last test: run it again.")
            return
        _show(_finding(key), cfg.train.lr, locked)


def _show(finding: LRFinding, current: float, locked: bool) -> None:
    st.plotly_chart(lr_finder_figure(finding), config=chart_config("lr finder"), key="lrf_chart")
    st.caption(
        f"{md_escape(finding.message)} · {finding.seconds:.1f} s. Thin line: each step's loss; "
        "thick: smoothed (an exponential moving average with bias correction); dashed: the "
        "suggestion."
    )
    if finding.suggestion is None:
        st.warning("No suggestion: the loss never fell.", icon=":material/trending_flat:")
        return
    value = float(f"{finding.suggestion:.2g}")
    st.markdown(f"Suggested learning rate: **{value:g}** (the form has {current:g}).")
    st.caption(f"Chosen by {METHOD_TEXT}.")
    st.button("Use this learning rate", icon=":material/check:", key="lrf_use",
              on_click=_use, args=(value,), disabled=locked or value == current,
              help="the learning rate is fixed for this session" if locked else None)  # fmt: skip
