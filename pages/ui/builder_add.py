"""Make a dataset: add samples to a class from the webcam (a shot, or a recorded burst), the
drawing canvas, or many dropped files. Each add says what it did (and what a cap left out)."""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from cnnlab.classify import IMAGE_TYPES
from cnnlab.classroom.identity import Identity
from cnnlab.data import made
from cnnlab.data.made_samples import MAX_BURST, add_samples
from cnnlab.text import md_escape
from pages.ui import common
from pages.ui.builder_record import record_panel
from pages.ui.builder_state import attempt, forget_loaded, say

SOURCES = ["Camera", "Record", "Draw", "Files"]
CLASS = "builder_class"  # session key: the class samples are added to


def add_panel(ds: made.MadeDataset, actor: Identity, classes: list[made.ClassInfo]) -> None:
    """Pick the class, then the source; every source adds to that class."""
    names = [c.name for c in classes]
    if not names:
        st.info(
            "Add a class first (above), then show the camera some examples.", icon=":material/info:"
        )
        return
    if st.session_state.get(CLASS) not in names:
        st.session_state[CLASS] = names[0]
    counts = {c.name: c.count for c in classes}
    target = st.segmented_control(
        "Add samples to class",
        names,
        format_func=lambda n: f"{n} ({counts[n]})",
        required=True,
        key=CLASS,
    )
    source = st.segmented_control(
        "Samples from", SOURCES, default="Camera", required=True, key="builder_source"
    )
    if source == "Camera":
        camera_shot(ds, target, actor)
    elif source == "Record":
        record_panel(ds, target, actor)
    elif source == "Draw":
        drawing(ds, target, actor)
    else:
        dropped_files(ds, target, actor)


def add(ds: made.MadeDataset, target: str, images: list, actor: Identity) -> None:
    """Add and keep the message for the next run (`add_samples` says what was left out)."""
    result = attempt(add_samples, ds, target, images, actor)
    if result is not None:
        forget_loaded(ds)
        lines = [md_escape(result.message)]
        lines += [f"- {md_escape(label)}: {md_escape(why)}" for label, why in result.refused[:5]]
        kind = (
            "success" if result.added and not result.refused and not result.left_out else "warning"
        )
        say(kind if result.added else "error", "\n".join(lines))


def camera_shot(ds: made.MadeDataset, target: str, actor: Identity) -> None:
    """Every new photo goes into the class at once (clear it to take the next one)."""
    photo = st.camera_input("Take a photo", key="builder_camera")
    if photo is not None and st.session_state.get("builder_camera_seen") != photo.file_id:
        st.session_state.builder_camera_seen = photo.file_id
        add(ds, target, [("camera photo", photo.getvalue())], actor)
        st.rerun()
    st.caption(f"Each photo is added to **{md_escape(target)}**; press *Clear photo* for the next.")


def drawing(ds: made.MadeDataset, target: str, actor: Identity) -> None:
    n = st.session_state.setdefault("builder_canvas_n", 0)  # a new key clears the canvas
    canvas_col, pen_col = st.columns([1, 2])
    pen = pen_col.slider("Pen width", 5, 60, 24, key="builder_pen")
    ink = pen_col.color_picker("Ink", "#000000", key="builder_ink")
    with canvas_col:
        result = st_canvas(
            stroke_width=pen,
            stroke_color=ink,
            background_color="#FFFFFF",
            height=280,
            width=280,
            return_image_data=True,
            key=f"builder_canvas_{n}",
        )
    drawn = bool(result.json_data and result.json_data.get("objects")) and result.image_bytes
    label = f"Add drawing to {md_escape(target)}"
    if pen_col.button(label, key="builder_add_drawing", disabled=not drawn, type="primary"):
        add(ds, target, [("drawing", result.image_bytes)], actor)
        st.session_state.builder_canvas_n = n + 1
        st.rerun()


def dropped_files(ds: made.MadeDataset, target: str, actor: Identity) -> None:
    n = st.session_state.setdefault("builder_files_n", 0)  # a new key empties the uploader
    files = st.file_uploader(
        f"Drop image files (at most {MAX_BURST} at a time)",
        type=IMAGE_TYPES,
        accept_multiple_files=True,
        key=f"builder_files_{n}",
        max_upload_size=common.IMAGE_UPLOAD_MB,
    )
    files = [f for f in files or [] if not common.upload_too_large(f.size)]
    label = f"Add {len(files)} file(s) to {md_escape(target)}"
    if st.button(label, key="builder_add_files", disabled=not files, type="primary"):
        add(ds, target, [(f.name, f.getvalue()) for f in files], actor)
        st.session_state.builder_files_n = n + 1
        st.rerun()
