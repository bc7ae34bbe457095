"""Make a dataset: name classes, show the webcam (shots or a recorded burst), draw, or drop files
into them, tidy them up, then train. A made dataset is an ordinary folder of class folders
(`cnnlab.data.made`) that trains as the `folder` dataset and downloads as a zip the Data page
reads back. In classroom mode the teacher's class dataset collects every student's samples."""

from __future__ import annotations

import streamlit as st

from cnnlab.data import made
from pages.ui import common
from pages.ui.builder_add import add_panel
from pages.ui.builder_classes import class_cards, contributors_panel, train_and_download
from pages.ui.builder_pick import add_class_form, pick_dataset
from pages.ui.builder_state import show_note
from pages.ui.identity import current_identity

# -- inputs: who, and which dataset -------------------------------------------------------------
common.ensure_app_shell()  # a deep link on a fresh server still goes through app.py
st.title("Make a dataset")
st.caption(
    "Name a few classes, show the camera some examples of each (or draw them, or drop files), "
    "then train. Every sample is kept on this server as a PNG in its class's folder."
)
actor = current_identity()
if actor is None:
    st.info("Join the class first (on Home): your samples are recorded under your name.",
            icon=":material/login:")  # fmt: skip
    st.stop()
note = st.container()
ds = pick_dataset(actor)
with note:
    show_note()  # what the last action did, above everything it changed
if ds is None:
    st.stop()
if ds.shared and not actor.is_teacher:
    st.caption("This is the **class dataset**: what you add is recorded under your name.")

# -- state: its classes -------------------------------------------------------------------------
manages = actor.is_teacher or actor.user_id == ds.owner_id
if manages:
    add_class_form(ds, actor)
classes = made.classes(ds)

# -- act: add samples ---------------------------------------------------------------------------
st.subheader("Add samples", anchor=False)
add_panel(ds, actor, classes)

# -- render: the classes, who contributed, train and download -----------------------------------
st.subheader("Classes", anchor=False)
if not classes:
    st.caption("No class yet." + (" Name one above." if manages else ""))
class_cards(ds, actor, classes)
contributors_panel(ds, actor)
st.subheader("Train", anchor=False)
train_and_download(ds)
