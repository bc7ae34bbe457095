"""The Model page's widgets: one per `designer.BlockField` (the custom editor, their state seeded
from the spec), and the test-time augmentation boxes.

A widget's state is put in `st.session_state` before the widget is drawn (only when it has none):
a value set that way also reaches the browser, so after a structural edit or a loaded network
(the editor's keys deleted, `pages/model.py: edit`) the boxes show the new spec. A widget drawn
with a new default `value=` under the same key would keep showing the old value in the browser.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from cnnlab import designer


def seeded(key: str, value: Any) -> str:
    """`key`, with its widget state set to `value` unless the widget already has one."""
    if key not in st.session_state:
        st.session_state[key] = value
    return key


def field_widget(field: designer.BlockField, value: Any, key: str) -> Any:
    """The widget the schema asks for: a number box, a checkbox or a selectbox."""
    tip = field.help or None
    seeded(key, value)
    if field.widget == "checkbox":
        return st.checkbox(field.label, key=key, help=tip)
    if field.widget == "number":
        low, high, step = field.range
        top = max(high, value)
        return st.number_input(field.label, low, top, step=step, key=key, help=tip)
    options = field.options(value)
    return st.selectbox(field.label, options, format_func=field.show, key=key, help=tip)


def tta_boxes(flip: bool, shift: bool) -> tuple[bool, bool]:
    """The two test-time augmentation boxes side by side: (mirror, shift), as ticked."""
    left, right = st.columns(2)
    tip = "average the image's and its mirror's scores: photos only (not digits or letters)"
    flip = left.checkbox("Mirror at test time", flip, key="model_flip_tta", help=tip)
    tip = (
        "also the image moved one pixel up-left and down-right: +0.4 points on CIFAR-10, for 3 "
        "times the prediction cost"
    )
    return flip, right.checkbox("Shift at test time", shift, key="model_shift_tta", help=tip)
