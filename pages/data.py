"""Data: pick a dataset (built in, a zip of class folders, or a folder on this server), look at it,
and preview what augmentation does to it.

Changing the dataset also switches the model to that dataset's recipe model, unless the model was
changed from the old dataset's recipe (then the user's choice is kept).
"""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from cnnlab import gallery, plots
from cnnlab.data.augment import default_augment
from cnnlab.config import AugmentConfig, DataConfig, default_cache_dir
from cnnlab.data import DATASETS, DatasetUnavailable, dataset_status
from cnnlab.data.folder import load_image_folder
from cnnlab.recipes import default_run_config
from pages import common

BUILT_IN = [name for name in DATASETS if name != "folder"]
IMAGE_SIZES = [16, 24, 32, 48, 64, 96, 128]  # pixels; user images are resized to this square
CHART = {"displayModeBar": False}


def use_dataset(cfg: DataConfig) -> None:
    """Load `cfg`; when it works make it the session's dataset and rerun (so the sidebar shows it),
    else keep the old one and say why."""
    try:
        common.dataset_for(cfg)
    except DatasetUnavailable as exc:
        st.session_state.upload_note = str(exc)
        return
    except ValueError as exc:  # FolderError, ArchiveError, too few images to split, ...
        st.session_state.upload_note = f"These images cannot be used: {exc}"
        return
    old = st.session_state.data_cfg
    if st.session_state.model_cfg == default_run_config(old.name).model:  # not customised
        st.session_state.model_cfg = default_run_config(cfg.name).model
    st.session_state.data_cfg = cfg
    st.session_state.upload_note = ""
    st.rerun()


def missing_note(name: str) -> str:
    """Radio caption of a dataset whose files are not here: '... a one-time download of 11 MB'."""
    size = re.search(r"\((\d+ MB)\)", DATASETS.get(name).description)
    return ":material/cloud_download: not here yet: a one-time download" + (
        f" of {size[1]}" if size else ""
    )


@st.cache_data(show_spinner=False, max_entries=16)
def sample_figure(cfg: DataConfig) -> tuple[go.Figure, str]:
    ds = common.dataset_for(cfg)
    tiles = gallery.class_samples(ds.train, ds.class_names)
    return gallery.tiles_figure(tiles), tiles.note


@st.cache_data(show_spinner=False, max_entries=64)
def augment_figure(cfg: DataConfig, augment: AugmentConfig) -> go.Figure:
    ds = common.dataset_for(cfg)
    return gallery.tiles_figure(gallery.augment_examples(ds.train, augment))


@st.cache_data(show_spinner=False, max_entries=8)
def skipped_files(cfg: DataConfig) -> list[tuple[str, str]]:
    """Every file a folder dataset left out (the dataset's notes show only a few)."""
    found = load_image_folder(
        Path(cfg.path),
        image_size=cfg.image_size or 64,
        channels=None,
        cache_dir=default_cache_dir(),
    )  # decoded: cached on disk
    return found.skipped


@st.fragment
def augmentation_preview(cfg: DataConfig, hflip_ok: bool) -> None:
    """Controls and preview grid; only this part reruns when a control moves."""
    start = default_augment(cfg.name)
    controls, preview = st.columns([1, 3], gap="large")
    with controls:
        key = f"aug.{cfg.name}."  # a new dataset starts from its own recommended settings
        augment = AugmentConfig(
            crop_padding=st.slider(
                "Random crop: padding (px)", 0, 8, start.crop_padding, key=key + "crop"
            ),
            hflip=st.checkbox(
                "Horizontal flip",
                start.hflip,
                key=key + "flip",
                help=None
                if hflip_ok
                else "A mirrored image of this dataset may "
                "belong to another class (think of digits).",
            ),
            rotate_degrees=st.slider(
                "Rotation (± degrees)", 0, 45, int(start.rotate_degrees), key=key + "rot"
            ),
            translate=st.slider(
                "Shift (± share of the side)", 0.0, 0.3, start.translate, 0.02, key=key + "shift"
            ),
            color_jitter=st.slider(
                "Colour jitter", 0.0, 1.0, start.color_jitter, 0.05, key=key + "jitter"
            ),
            erasing=st.slider(
                "Random erasing (probability)", 0.0, 1.0, start.erasing, 0.05, key=key + "erase"
            ),
        )
        if augment.hflip and not hflip_ok:
            st.warning("Flipping may change the class of these images.", icon=":material/warning:")
    with preview:
        st.plotly_chart(augment_figure(cfg, augment), config=CHART, key="augment_grid")
        st.caption(
            "Each row: one training image, then random variants the network could see instead. "
            "Preselected: the settings recommended for this dataset (a preview; training uses the "
            "Train page's settings)."
        )


# -- inputs: where the images come from ----------------------------------------------------------
common.ensure_app_shell()  # a deep link on a fresh server must still run app.py
st.title("Data")
current: DataConfig = st.session_state.data_cfg
problem = st.container()  # why the last choice could not be used, above everything else
pick, about = st.columns([2, 3], gap="large")
with pick:
    built_in, upload, folder = st.tabs(
        ["Built-in datasets", "Upload a zip", "Folder on this server"]
    )
    with built_in, st.form("built_in"):
        status = {name: dataset_status(name) for name in BUILT_IN}
        name = st.radio(
            "Dataset",
            BUILT_IN,
            index=BUILT_IN.index(current.name) if current.name in BUILT_IN else 0,
            format_func=lambda n: DATASETS.get(n).title,
            key="dataset_name",
            captions=[missing_note(n) if not ok else "" for n, (ok, _) in status.items()],
        )
        if st.form_submit_button("Use this dataset", type="primary"):
            use_dataset(default_run_config(name).data)
    with built_in.expander("Where the files are"):
        for n, (ok, why) in status.items():
            st.markdown(
                f"{':material/check_circle:' if ok else ':material/cloud_off:'} **{n}**: {why}"
            )
        st.caption(
            "Without internet: run `python -m cnnlab datasets --download NAME` on a computer "
            "that has it and copy the data folder here, or set `CNNLAB_DATA` to a folder with the files."
        )
    with upload, st.form("upload"):
        st.markdown(
            "A **.zip with one folder per class** (`cats/…`, `dogs/…`), optionally inside "
            "`train/` and `test/` folders. Images are resized to a square."
        )
        zip_file = st.file_uploader("Zip of class folders", type="zip", key="zip_file")
        size = st.select_slider("Image size (pixels)", IMAGE_SIZES, 64, key="zip_size")
        if st.form_submit_button("Use these images", type="primary"):
            if zip_file is None:
                st.session_state.upload_note = "Choose a .zip file first (drag it onto the box)."
            elif not common.upload_too_large(zip_file.size):
                saved = gallery.named_upload(common.save_upload(zip_file.getvalue()), zip_file.name)
                use_dataset(DataConfig(name="folder", path=str(saved), image_size=size))
    with folder, st.form("folder"):
        root = gallery.folder_root()
        st.markdown(
            f"A folder or .zip of class folders **inside `{root}`** (set `CNNLAB_FOLDER_ROOT` "
            "to allow another folder)."
        )
        text = st.text_input("Path", placeholder=f"{root}/my-images", key="folder_path")
        folder_size = st.select_slider("Image size (pixels)", IMAGE_SIZES, 64, key="folder_size")
        if st.form_submit_button("Use this folder", type="primary"):
            try:
                path = gallery.resolve_user_folder(text, root)
            except ValueError as exc:
                st.session_state.upload_note = str(exc)
            else:
                use_dataset(DataConfig(name="folder", path=str(path), image_size=folder_size))
if st.session_state.upload_note:
    problem.error(st.session_state.upload_note.replace("\n", "  \n"), icon=":material/error:")

# -- render: the current dataset -----------------------------------------------------------------
with about:
    ds = common.current_dataset()
    c, h, w = ds.input_shape
    label = common.data_label(st.session_state.data_cfg)
    st.subheader(label[0].upper() + label[1:])
    cols = st.columns(4)
    cols[0].metric("Classes", ds.num_classes)
    cols[1].metric("Image size", f"{h}×{w}")
    cols[2].metric("Channels", c, help="3 = colour (RGB), 1 = greyscale")
    cols[3].metric("Images", f"{len(ds.train) + len(ds.val) + len(ds.test):,}")
    st.caption(
        f"Split: **{len(ds.train):,}** train · **{len(ds.val):,}** validation · "
        f"**{len(ds.test):,}** test. Source: {Path(ds.source).name if ds.name == 'folder' else ds.source}."
    )
    for note in ds.notes:
        if note.startswith("warning:"):
            st.warning(note.removeprefix("warning:").strip(), icon=":material/warning:")
    with st.expander("How the splits were made"):
        st.markdown("\n".join(f"- {n}" for n in ds.notes if not n.startswith("warning:")))
    if st.session_state.data_cfg.name == "folder" and (
        skipped := skipped_files(st.session_state.data_cfg)
    ):
        with st.expander(f"{len(skipped)} file(s) left out"):
            st.dataframe([{"file": f, "why": why} for f, why in skipped], hide_index=True)
    st.plotly_chart(
        plots.class_counts_bar(ds.class_names, gallery.class_counts(ds)),
        config=CHART,
        key="class_counts",
    )

st.subheader("Samples per class")
figure, note = sample_figure(st.session_state.data_cfg)
st.plotly_chart(figure, config=CHART, key="samples")
if note:
    st.caption(note)

st.subheader("Augmentation preview")
augmentation_preview(st.session_state.data_cfg, ds.hflip_ok)
