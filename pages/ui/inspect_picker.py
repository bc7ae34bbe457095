"""Inspect's image pickers: a test image (by class and number, or by its test index, as the
Evaluate page names them) or an uploaded file prepared exactly like the Classify page does."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from cnnlab.classify import IMAGE_TYPES, prepare_file
from cnnlab.data import DatasetUnavailable
from cnnlab.runs import LoadedModel
from cnnlab.text import md_escape
from pages.ui import common

PICK_BY = ["class", "test #"]
Chosen = tuple[torch.Tensor, str]  # uint8 (C, H, W) as the network sees it, Markdown caption


def _by_class(y: np.ndarray, names: list[str]) -> int | None:
    """Class selectbox + number within the class: the test index, or None (class absent)."""
    left, right = st.columns(2)
    if st.session_state.get("inside_class") not in names:  # another run's classes
        st.session_state.pop("inside_class", None)
    name = left.selectbox("Class", names, key="inside_class")
    members = np.flatnonzero(y == names.index(name))  # split indices
    if not len(members):
        st.info(f"The test set has no image of class {md_escape(name)}.")
        return None
    if st.session_state.get("inside_number", 1) > len(members):  # another class: start again
        st.session_state.inside_number = 1
    number = right.number_input(f"Image (1–{len(members)})", 1, len(members), key="inside_number")
    return int(members[number - 1])


def test_image(loaded: LoadedModel) -> Chosen | None:
    """A test image chosen by class and number or by index: (image, caption), or None."""
    ss = st.session_state
    which = "val" if ss.get("inside_split") == "val" else "test"  # val: opened from Embedding
    try:
        test = getattr(common.dataset_for(loaded.config.data), which)
    except (DatasetUnavailable, ValueError) as exc:
        st.warning(
            f"The run's test images are not available ({md_escape(exc)}). Upload an image instead."
        )
        return None
    names, y = loaded.class_names, np.asarray(test.y)
    st.session_state.setdefault("inside_pick_by", PICK_BY[0])
    pick, chooser, _ = st.columns([1, 2, 1], vertical_alignment="bottom")
    with pick:
        by = st.segmented_control("Choose by", PICK_BY, key="inside_pick_by", required=True)
    with chooser:
        if by == "class":
            index = _by_class(y, names)
        else:
            last = len(y) - 1
            st.session_state.inside_index = min(
                max(st.session_state.get("inside_index", 0), 0), last
            )
            what = "Validation" if which == "val" else "Test"
            index = int(
                st.number_input(f"{what} image # (0–{last:,})", 0, last, key="inside_index")
            )
    if index is None:
        return None
    _remember(index, y, names)
    true = md_escape(names[int(y[index])])
    if which == "val":
        st.button("Back to test images", key="inside_to_test", on_click=ss.pop,
                  args=("inside_split", None))  # fmt: skip
        return test.x[index], f"validation image #{index}, true class **{true}**"
    return test.x[index], f"test image #{index}, true class **{true}**"


def _remember(index: int, y: np.ndarray, names: list[str]) -> None:
    """Point the hidden picker at the same image, so switching "Choose by" keeps the image.
    (Only the picker not drawn in this run is set: a drawn widget's state cannot be.)"""
    if st.session_state.inside_pick_by == "class":
        st.session_state.inside_index = index
    else:
        label = int(y[index])
        st.session_state.inside_class = names[label]
        st.session_state.inside_number = int(np.count_nonzero(y[:index] == label)) + 1


def uploaded_image(loaded: LoadedModel) -> Chosen | None:
    """An uploaded image prepared for the model: (image, caption), or None."""
    upload = st.file_uploader(
        "Image", type=IMAGE_TYPES, key="inside_upload", max_upload_size=common.IMAGE_UPLOAD_MB
    )
    if upload is None or common.upload_too_large(upload.size):
        return None
    item = prepare_file(upload.name, upload.getvalue(), loaded.preprocess)
    if not item.ok:
        st.error(
            f"**{md_escape(upload.name)}**: {md_escape(item.error)}", icon=":material/broken_image:"
        )
        return None
    return item.x, f"**{md_escape(upload.name)}**" + (
        " (colours inverted)" if item.inverted else ""
    )
