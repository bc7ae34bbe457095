"""Make a dataset: pick or create the dataset, add a class, and (teacher) the class dataset."""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom import class_dataset
from cnnlab.classroom.identity import Identity
from cnnlab.data import made
from cnnlab.text import md_escape
from pages.ui.builder_state import attempt, say
from pages.ui.identity import classroom_on, classroom_settings

PICK = "builder_dataset"  # session key of the picked dataset's name


def pick_dataset(actor: Identity) -> made.MadeDataset | None:
    """The selectbox of the datasets `actor` may see, plus the "New dataset" form."""
    shared = class_dataset.class_dataset(classroom_settings().state_dir) if classroom_on() else None
    found = made.list_datasets(actor)
    names = [d.name for d in found]
    if st.session_state.get(PICK) not in names:  # first visit, or it was deleted
        st.session_state[PICK] = (
            shared.name if shared and shared.name in names else (names[0] if names else None)
        )
    pick_col, new_col = st.columns([3, 2], gap="large")
    with new_col.form("builder_create_form", clear_on_submit=True, border=False):
        text = st.text_input(
            "New dataset", placeholder="e.g. rock-paper-scissors", key="builder_new_dataset"
        )
        if st.form_submit_button("Create dataset", key="builder_create"):
            if (ds := attempt(made.create_dataset, text, actor)) is not None:
                st.session_state[PICK] = ds.name
                say("success", f"Created **{md_escape(ds.name)}**: now add a class or two.")
            st.rerun()
    if not names:
        pick_col.info("No dataset yet: name one on the right to start.", icon=":material/info:")
        return None

    def label(name: str) -> str:
        return name + ("  (class dataset)" if shared is not None and name == shared.name else "")

    name = pick_col.selectbox("Dataset", names, format_func=label, key=PICK)
    ds = found[names.index(name)]
    if classroom_on() and actor.is_teacher:
        class_dataset_toggle(ds, shared, actor)
    return ds


def class_dataset_toggle(
    ds: made.MadeDataset, shared: made.MadeDataset | None, actor: Identity
) -> None:
    """The teacher's switch: every student's captures and drawings go into this dataset."""
    on = shared is not None and shared.name == ds.name
    want = st.toggle(
        "Class dataset: every student adds to this one",
        value=on,
        key=f"builder_class_dataset_{ds.name}",
    )
    if want != on:
        state = classroom_settings().state_dir
        attempt(class_dataset.set_class_dataset, ds if want else None, state, actor)
        st.rerun()


def add_class_form(ds: made.MadeDataset, actor: Identity) -> None:
    with st.form("builder_class_form", clear_on_submit=True, border=False):
        name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
        text = name_col.text_input(
            "New class", placeholder="e.g. thumbs up", key="builder_new_class"
        )
        if button_col.form_submit_button("Add class", key="builder_add_class"):
            if (name := attempt(made.add_class, ds, text, actor)) is not None:
                st.session_state["builder_class"] = name
                say("success", f"Added class **{md_escape(name)}**: now add samples to it.")
            st.rerun()
