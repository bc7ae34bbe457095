"""Make a dataset: each class with its count and newest thumbnails; delete or move the ticked
samples, rename or remove the class; the contributors (owner/teacher); train and download."""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom.identity import Identity
from cnnlab.data import made
from cnnlab.data import made_samples as samples
from cnnlab.text import md_escape
from pages.ui.builder_state import attempt, forget_loaded, say, thumbnail, use_dataset

SHOWN = 24  # newest thumbnails per class
PER_ROW = 8
SIZES = [32, 48, 64, 96]  # pixels the dataset may train at


def class_cards(ds: made.MadeDataset, actor: Identity, classes: list[made.ClassInfo]) -> None:
    manages = actor.is_teacher or actor.user_id == ds.owner_id
    for info in classes:
        with st.container(border=True, key=f"builder_card_{info.name}"):
            class_card(ds, actor, info, [c.name for c in classes], manages)


def class_card(
    ds: made.MadeDataset, actor: Identity, info: made.ClassInfo, names: list[str], manages: bool
) -> None:
    title, tools = st.columns([3, 2], vertical_alignment="center")
    title.markdown(f"**{md_escape(info.name)}** · {info.count} sample(s)")
    if manages:
        class_tools(ds, actor, info, tools)
    shown = samples.samples(ds, info.name, limit=SHOWN)
    if not shown:
        st.caption("No samples yet: pick this class above and add some.")
        return
    picked = []
    for start in range(0, len(shown), PER_ROW):
        for col, sample in zip(st.columns(PER_ROW), shown[start : start + PER_ROW], strict=False):
            col.image(thumbnail(str(sample.path), sample.path.stat().st_mtime_ns))
            mine = manages or sample.contributor == actor.user_id
            if col.checkbox("pick", key=f"builder_pick_{sample.name}", disabled=not mine,
                            label_visibility="collapsed"):  # fmt: skip
                picked.append(sample.name)
    if info.count > SHOWN:
        st.caption(f"The newest {SHOWN} of {info.count} are shown.")
    sample_tools(ds, actor, info.name, names, picked)


def sample_tools(
    ds: made.MadeDataset, actor: Identity, name: str, names: list[str], picked: list[str]
) -> None:
    delete_col, target_col, move_col = st.columns([1, 1, 1], vertical_alignment="bottom")
    if delete_col.button(
        f"Delete {len(picked)} ticked", key=f"builder_delete_{name}", disabled=not picked
    ):
        if (n := attempt(samples.delete_samples, ds, name, picked, actor)) is not None:
            forget_loaded(ds)
            say("success", f"Deleted {n} sample(s) of **{md_escape(name)}**.")
        st.rerun()
    others = [n for n in names if n != name]
    target = target_col.selectbox(
        "Move to", others, key=f"builder_move_to_{name}", disabled=not others
    )
    if move_col.button("Move ticked", key=f"builder_move_{name}", disabled=not (picked and others)):
        if (n := attempt(samples.move_samples, ds, name, target, picked, actor)) is not None:
            forget_loaded(ds)
            say("success", f"Moved {n} sample(s) to **{md_escape(target)}**.")
        st.rerun()


def class_tools(ds: made.MadeDataset, actor: Identity, info: made.ClassInfo, where: object) -> None:
    rename_col, remove_col = where.columns(2)  # type: ignore[attr-defined]
    with rename_col.popover("Rename", icon=":material/edit:"):
        new = st.text_input("New name", value=info.name, key=f"builder_rename_text_{info.name}")
        if st.button("Rename class", key=f"builder_rename_{info.name}"):
            if (name := attempt(made.rename_class, ds, info.name, new, actor)) is not None:
                forget_loaded(ds)
                say("success", f"Renamed **{md_escape(info.name)}** to **{md_escape(name)}**.")
            st.rerun()
    with remove_col.popover("Remove", icon=":material/delete:"):
        st.markdown(f"Remove **{md_escape(info.name)}** and its {info.count} sample(s)?")
        if st.button("Remove class", key=f"builder_remove_{info.name}", type="primary"):
            if (n := attempt(made.remove_class, ds, info.name, actor)) is not None:
                forget_loaded(ds)
                say("success", f"Removed **{md_escape(info.name)}** ({n} sample(s)).")
            st.rerun()


def contributors_panel(ds: made.MadeDataset, actor: Identity) -> None:
    """Who added how many samples; the owner or teacher can remove someone's samples."""
    if not (actor.is_teacher or actor.user_id == ds.owner_id):
        return
    people = samples.contributors(ds)
    if len(people) < 2 and not ds.shared:
        return
    with st.expander(f"Contributors ({len(people)})", expanded=ds.shared):
        for user_id, (name, count) in people.items():
            who, button = st.columns([3, 1], vertical_alignment="center")
            who.markdown(f"**{md_escape(name)}** · {count} sample(s)")
            if button.button("Remove their samples", key=f"builder_remove_user_{user_id}"):
                if (n := attempt(samples.remove_contributor, ds, user_id, actor)) is not None:
                    forget_loaded(ds)
                    say("success", f"Removed {n} sample(s) by **{md_escape(name)}**.")
                st.rerun()


def train_and_download(ds: made.MadeDataset) -> None:
    size_col, train_col, zip_col = st.columns([1, 1, 1], vertical_alignment="bottom")
    size = size_col.select_slider("Train at (pixels)", SIZES, made.IMAGE_SIZE, key="builder_size")
    if train_col.button("Train on this dataset", key="builder_train", type="primary",
                        icon=":material/play_circle:"):  # fmt: skip
        if use_dataset(ds, size):
            st.switch_page("pages/train.py")
        st.rerun()
    zip_col.download_button(
        "Download as zip",
        data=lambda: samples.zip_bytes(ds),
        file_name=f"{ds.name}.zip",
        mime="application/zip",
        key="builder_download",
        icon=":material/download:",
        on_click="ignore",
    )
