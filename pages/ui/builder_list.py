"""The Data page's "Made in the browser" tab: the made datasets this user may see, to use like
any dataset (they load as the `folder` dataset over their folder)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.errors import StreamlitAPIException

from cnnlab.config import DataConfig
from cnnlab.data import made
from cnnlab.text import md_escape
from pages.ui import common
from pages.ui.identity import current_identity


def made_datasets_tab(choose: Callable[[DataConfig], str], sizes: list[int]) -> None:
    """A form to pick a made dataset; "Use this dataset" calls `choose` (the Data page's)."""
    actor = current_identity()
    found = made.list_datasets(actor) if actor is not None else []
    try:
        st.page_link("pages/make-dataset.py", label="Make a dataset", icon=":material/add_a_photo:")
    except StreamlitAPIException:  # the page is not registered in this app
        pass
    if not found:
        st.caption("No dataset made in the browser yet.")
        return
    with st.form("made_form", border=False):
        counts = {d.name: made.classes(d) for d in found}
        name = st.radio(
            "Made dataset",
            list(counts),
            captions=[
                f"{len(c)} classes, {sum(x.count for x in c)} samples" for c in counts.values()
            ],
            key="made_dataset",
        )
        size = st.select_slider("Image size (pixels)", sizes, made.IMAGE_SIZE, key="made_size")
        use = st.form_submit_button("Use this dataset", type="primary")
    if use:
        ds = found[list(counts).index(name)]
        try:
            made.check_trainable(ds)
        except ValueError as exc:
            st.session_state.upload_note = f"These images cannot be used: {md_escape(exc)}"
        else:
            cfg = made.data_config(ds, size)
            common._dataset.clear(cfg)  # same folder, maybe new samples: load it again
            st.session_state.upload_note = choose(cfg)
        st.rerun()
