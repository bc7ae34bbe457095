"""Opening one test image of a run in Inspect from another page (Evaluate's galleries).

The request is two values in `st.session_state` (the run id and the test image's position in the
run's test split); Inspect reads it once, before its widgets are drawn, and sets their state, so
its own pickers then show (and can move on from) that image.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

INSPECT_PAGE = "pages/inspect.py"
REQUEST = "inspect_request"  # session_state key of a pending InspectRequest


@dataclass(frozen=True)
class InspectRequest:
    run_id: str
    index: int  # position in the run's split ("test #index" on Evaluate)
    split: str = "test"  # "test", or "val" (the Embedding's validation images)


def open_in_inspect(run_id: str, index: int, split: str = "test") -> None:
    """Switch to Inspect showing image `index` of `run_id`'s `split` (ends this script run)."""
    st.session_state[REQUEST] = InspectRequest(run_id, int(index), split)
    st.switch_page(INSPECT_PAGE)


def apply_request() -> InspectRequest | None:
    """On Inspect, before its widgets: turn a pending request into their state (once).

    The run becomes the session's run (Inspect's run picker starts there); the picker shows the
    test image by its index.
    """
    request = st.session_state.pop(REQUEST, None)
    if not isinstance(request, InspectRequest):
        return None
    st.session_state.run_id = request.run_id
    for key in ("inside_run", "inside_source", "inside_view"):  # defaults: this run, "Test set"
        st.session_state.pop(key, None)
    st.session_state.inside_split = request.split
    st.session_state.inside_pick_by = "test #"
    st.session_state.inside_index = request.index
    return request
