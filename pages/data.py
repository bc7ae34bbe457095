"""Data: pick a dataset (built in, an uploaded zip of class folders, or a folder on this server),
look at it, set the difficulty of the generated shapes, and design the augmentation Train uses
(`pages/ui/data_augment.py`). A new dataset brings its recipe's model unless the model was
customised. Uploads belong to the browser session that sent them (`cnnlab.data.uploads`)."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from cnnlab import data, gallery, plots
from cnnlab.config import DataConfig
from cnnlab.data import DATASETS, DatasetUnavailable, uploads
from cnnlab.recipes import default_run_config
from cnnlab.text import md_escape
from pages.ui import common, share
from pages.ui.builder_list import made_datasets_tab
from pages.ui.data_augment import augmentation_preview
from pages.ui.data_shapes import shapes_controls

BUILT_IN = [name for name in DATASETS if name != "folder"]
IMAGE_SIZES = [16, 24, 32, 48, 64, 96, 128]  # pixels; user images are resized to this square
CHART = common.chart_config("data")
LIMIT_MB = common.MAX_UPLOAD_MB  # = server.maxUploadSize: the browser refuses larger files
OFFLINE_HELP = (
    "Without internet: run `python -m cnnlab datasets --download NAME` on a computer that has it "
    "and copy the data folder here, or set `CNNLAB_DATA` to a folder with the files."
)
BROWSER_LIMIT_MB = st.get_option("server.maxUploadSize")  # what the browser itself refuses
NO_FILE = f"Choose a .zip file first (a bigger file than the size limit of {BROWSER_LIMIT_MB} MB is refused)."


def choose(cfg: DataConfig) -> str:
    """Make `cfg` the session's dataset if it loads ("" returned), else keep the old one and
    return why as Markdown (names escaped). The caller reruns the page (so the sidebar and the message show it)."""
    try:
        uploads.check_owner(cfg.path, common.session_owner())
        common.dataset_for(cfg)
    except DatasetUnavailable as exc:
        return str(exc)
    except ValueError as exc:  # FolderError, ArchiveError, UploadError, too few images, ...
        return f"These images cannot be used: {md_escape(exc)}"
    if st.session_state.model_cfg == default_run_config(st.session_state.data_cfg.name).model:
        st.session_state.model_cfg = default_run_config(cfg.name).model  # not customised
    st.session_state.data_cfg = cfg
    return ""


def choose_upload(file: UploadedFile | None, size: int) -> str:
    """Store and use an uploaded zip (a refused one is deleted); returns why not, or ""."""
    if file is None:  # also what a file the browser refused for its size leaves behind
        return NO_FILE
    try:
        ref = uploads.save_upload(
            file, file.name, common.session_owner(), max_bytes=LIMIT_MB * 2**20
        ).ref
    except uploads.UploadError as exc:
        return md_escape(exc)
    if note := choose(DataConfig(name="folder", path=ref, image_size=size)):
        uploads.discard(ref)  # refused uploads do not stay on the server
    return note


def choose_folder(text: str, root: Path, size: int) -> str:
    try:  # one neutral message for a path that is missing, unreadable or not allowed
        path = str(data.resolve_user_folder(text, root))
    except ValueError as exc:
        return md_escape(exc)
    return choose(DataConfig(name="folder", path=path, image_size=size))


def missing_note(name: str) -> str:
    """Radio caption of a dataset whose files are not here: '... a one-time download of 12 MB'."""
    size = DATASETS.get(name).download_bytes
    return ":material/cloud_download: not here yet: a one-time download" + (
        f" of {data.download_text(size)}" if size else ""
    )


@st.cache_data(show_spinner=False, max_entries=16)
def sample_figure(cfg: DataConfig) -> tuple[go.Figure, str]:
    ds = common.dataset_for(cfg)
    tiles = gallery.class_samples(ds.train, ds.class_names)
    return gallery.tiles_figure(tiles), tiles.note


skipped_files = st.cache_data(show_spinner=False, max_entries=8)(data.skipped_files)


def use_shapes(new: DataConfig) -> None:
    """The shapes controls' "Use these shapes": the new set, or why not, then a full rerun."""
    st.session_state.upload_note = choose(new)
    st.rerun()


# -- inputs: where the images come from ----------------------------------------------------------
common.ensure_app_shell()  # a deep link on a fresh server must still run app.py
st.title("Data")
share_slot, rules = share.begin()  # the URL's dataset (share links), or a lesson's fixed one
off = rules.is_locked("data")  # a link's `_lock=data` or the lesson's dataset: disabled
sizes = [s for s in IMAGE_SIZES if s <= (rules.max_image_size or IMAGE_SIZES[-1])]
cfg: DataConfig = st.session_state.data_cfg  # the current dataset
problem = st.container()  # why the last choice could not be used, above everything else
pick, about = st.columns([2, 3], gap="large")
with (pickers := pick.empty()).container():  # emptied again below for `_hide=data`
    tabs = ["Built-in datasets", "Upload a zip", "Folder on this server", "Made in the browser"]
    built_in, upload, folder, made_here = st.tabs(tabs)
    with built_in, st.form("built_in"):
        status = {name: data.dataset_status(name) for name in BUILT_IN}
        name = st.radio(
            "Dataset",
            BUILT_IN,
            index=BUILT_IN.index(cfg.name) if cfg.name in BUILT_IN else 0,
            format_func=lambda n: DATASETS.get(n).title,
            key="dataset_name",
            disabled=off,
            captions=[missing_note(n) if not ok else "" for n, (ok, _) in status.items()],
        )
        use_built_in = st.form_submit_button("Use this dataset", type="primary", disabled=off)
    with built_in.expander("Where the files are"):
        for n, (ok, why) in status.items():
            st.markdown(
                f":material/{'check_circle' if ok else 'cloud_off'}: **{n}**: {md_escape(why)}"
            )
        st.caption(OFFLINE_HELP)
    start_size = min(64, sizes[-1])  # pixels: the upload's and the folder's first size
    with upload, st.form("upload"):
        st.markdown(
            "A **.zip with one folder per class** (`cats/…`, `dogs/…`), optionally inside "
            f"`train/` and `test/` folders, up to {BROWSER_LIMIT_MB} MB. Images are resized to a square."
        )
        zip_file = st.file_uploader("Zip of class folders", ["zip"], key="zip_file", disabled=off)
        size = st.select_slider("Image size (pixels)", sizes, start_size, key="zip_size")
        use_upload = st.form_submit_button("Use these images", type="primary", disabled=off)
    with folder, st.form("folder"):
        root = data.folder_root()
        st.markdown(f"A folder or .zip of class folders **inside {md_escape(root)}**.")
        allow = "Start the app with CNNLAB_FOLDER_ROOT set to allow another folder."
        text = st.text_input("Path", placeholder=f"{root}/my-images", key="folder_path", help=allow)
        folder_size = st.select_slider("Image size (pixels)", sizes, start_size, key="folder_size")
        use_folder = st.form_submit_button("Use this folder", type="primary", disabled=off)
    with made_here:
        made_datasets_tab(choose, sizes)  # pages/ui/builder_list.py
if "data" in rules.hidden:
    pickers.empty()
share.lock_caption(rules, ["data"], {"data": "the dataset"}, where=pick)

# -- state: what the last choice left ------------------------------------------------------------
if note := st.session_state.upload_note:  # Markdown: user text in it was escaped by choose_*
    problem.error(note.replace("\n", "  \n"), icon=":material/error:")

# -- render: the current dataset -----------------------------------------------------------------
with about:
    ds = common.current_dataset()
    label = common.data_label(cfg)
    st.subheader(md_escape(label[0].upper() + label[1:]), anchor=False)
    for col, (title, value, why) in zip(st.columns(4), gallery.dataset_facts(ds), strict=True):
        col.metric(title, value, help=why)
    st.caption(gallery.split_caption(ds))
    for note in ds.notes:
        if note.startswith("warning:"):
            st.warning(md_escape(note.removeprefix("warning:").strip()), icon=":material/warning:")
    with st.expander("How the splits were made"):
        st.markdown(
            "\n".join(f"- {md_escape(n)}" for n in ds.notes if not n.startswith("warning:"))
        )
    if cfg.name == "folder" and (skipped := skipped_files(cfg)):
        with st.expander(f"{len(skipped)} file(s) left out"):
            st.dataframe([{"file": f, "why": why} for f, why in skipped], hide_index=True)
    counts = plots.class_counts_bar(ds.class_names, gallery.class_counts(ds))
    st.plotly_chart(counts, config=CHART, key="class_counts")

st.subheader("Samples per class")
figure, note = sample_figure(cfg)
st.plotly_chart(figure, config=CHART, key="samples")
if note:
    st.caption(note)

if cfg.name == "shapes" and "data" not in rules.hidden:
    st.subheader("Difficulty of the shapes")
    shapes_controls(cfg, use_shapes, disabled=off)

st.subheader("Augmentation")
augmentation_preview(cfg, ds.hflip_ok)

# -- act: use what was chosen, then rerun to show it (or why not) -------------------------------
if use_built_in or use_upload or use_folder:
    if use_built_in:
        st.session_state.upload_note = choose(default_run_config(name).data)
    elif use_upload:
        st.session_state.upload_note = choose_upload(zip_file, size)
    else:
        st.session_state.upload_note = choose_folder(text, root, folder_size)
    st.rerun()
share.end(share_slot)
