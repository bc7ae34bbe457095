"""Classify: upload images, take a webcam photo or draw, and see what a trained network predicts.

Each image is shown as the network sees it, with its top-k probabilities and a Grad-CAM map.
Results are cached per upload id, so a slider never decodes the files again. A bad file gets its
own message; the others are still classified.
"""

from __future__ import annotations

import hashlib

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from cnnlab import plots
from cnnlab.classify import IMAGE_TYPES, Classified, classify_files, results_table
from cnnlab.display import cam_picture, enlarge
from cnnlab.runs import get_run
from cnnlab.text import md_escape
from pages.ui import common

MAX_CARDS = 12  # images shown in detail; all of them are in the results table
SIDE = 160  # pixels on screen for the network's view and the heat map
INVERT = {"Auto": None, "Invert": True, "Keep": False}  # colour inversion before predicting
CHART = common.chart_config("class probabilities")


@st.cache_data(show_spinner="Classifying…", max_entries=16)
def classify(
    run_id: str,
    weights_mtime: float,
    ids: tuple[str, ...],
    invert: bool | None,
    _files: tuple[tuple[str, bytes], ...],
) -> list[Classified]:
    """Cached by upload ids (unique per upload), not by the bytes (not hashed: leading _)."""
    loaded = common.loaded_model(run_id)
    return classify_files(
        loaded.model,
        _files,
        loaded.class_names,
        loaded.preprocess,
        invert=invert,
        k=len(loaded.class_names),
    )


def drawing(pen: int) -> tuple[str, bytes] | None:
    """Black strokes on a white canvas (a digit model's auto-invert turns it white on black)."""
    result = st_canvas(
        stroke_width=pen,
        stroke_color="#000000",
        background_color="#FFFFFF",
        height=280,
        width=280,
        return_image_data=True,
        key="classify_canvas",
    )
    drawn = bool(result.json_data and result.json_data.get("objects"))
    return ("drawing", result.image_bytes) if drawn and result.image_bytes else None


def show(i: int, item: Classified, top_k: int, alpha: float) -> None:
    """One classified image: original, network input, Grad-CAM, probability bars."""
    name, p = item.prediction.top[0]
    with st.container(border=True):
        st.markdown(f"**{md_escape(item.name)}** → **{md_escape(name)}** ({p:.1%})")
        cols = st.columns([1, 1, 1, 2])
        cols[0].image(item.thumbnail, caption=f"original, {item.size[0]}×{item.size[1]} px")
        c, h, w = item.x.shape
        view = f"{w}×{h} {'grey' if c == 1 else 'colour'}" + (", inverted" if item.inverted else "")
        cols[1].image(enlarge(item.x, SIDE), caption=f"as the network sees it: {view}")
        if item.heat is not None:
            cam = cam_picture(item.x, item.heat, alpha, SIDE)
            cols[2].image(cam, caption=f"Grad-CAM: {md_escape(name)} at {md_escape(item.layer)}")
        with cols[3]:
            st.plotly_chart(
                plots.probability_bars(item.prediction.top[:top_k]),
                config=CHART,
                key=f"classify_bars_{i}",
            )


common.ensure_app_shell()  # a deep link on a fresh server still goes through app.py
st.title("Classify")
loaded = common.pick_trained_run("classify_run")
channels, height, width = loaded.preprocess.input_shape
num_classes = len(loaded.class_names)

sources = ["Upload", "Webcam", "Draw"]
source = st.segmented_control("Image from", sources, default="Upload", required=True)
settings = st.columns(3)
invert = settings[0].segmented_control(
    "Invert colours",
    list(INVERT),
    default="Auto",
    required=True,
    key="classify_invert",
    help="Auto inverts light-background images for models "
    "trained on light strokes over black (like MNIST).",
)
top_k = settings[1].slider(
    "Classes shown", 1, min(10, num_classes), min(5, num_classes), key="classify_top_k"
)
alpha = settings[2].slider("Heat map opacity", 0.0, 1.0, 0.45, 0.05, key="classify_alpha")

ids, files = [], []  # upload ids (cache keys) and (name, bytes)
if source == "Upload":
    uploads = st.file_uploader(
        "Drop one or many images",
        type=IMAGE_TYPES,
        accept_multiple_files=True,
        key="classify_upload",
        max_upload_size=common.IMAGE_UPLOAD_MB,
    )
    for upload in uploads or []:
        if common.upload_too_large(upload.size):
            st.caption(f"↑ {md_escape(upload.name)} was skipped.")
            continue
        ids.append(upload.file_id)
        files.append((upload.name, upload.getvalue()))
elif source == "Webcam":
    photo = st.camera_input("Take a photo", key="classify_camera")
    if photo is not None:
        ids, files = [photo.file_id], [("camera photo", photo.getvalue())]
else:
    canvas_col, pen_col = st.columns([1, 2])
    pen = pen_col.slider("Pen width", 5, 60, min(50, max(10, round(560 / width))))  # ~2 input px
    pen_col.caption("Draw big and centred, like the training images. The bin icon clears.")
    with canvas_col:
        drawn = drawing(pen)
    if drawn is None:
        pen_col.info(
            "Draw on the canvas first (a digit for digit models, a shape for shapes).",
            icon=":material/draw:",
        )
    else:
        ids, files = [hashlib.sha256(drawn[1]).hexdigest()], [drawn]
if not files:
    st.caption(
        f"Images are resized to {width}×{height} "
        f"{'greyscale' if channels == 1 else 'colour'} pixels, the size this network "
        "was trained on."
    )
    st.stop()

run = get_run(loaded.run_id)
results = classify(loaded.run_id, run.weights_version(), tuple(ids), INVERT[invert], tuple(files))
for item in results:
    if not item.ok:
        st.error(
            f"**{md_escape(item.name)}**: {md_escape(item.error)}", icon=":material/broken_image:"
        )
good = [item for item in results if item.ok]
for i, item in enumerate(good[:MAX_CARDS]):
    show(i, item, top_k, alpha)
if len(good) > MAX_CARDS:
    st.caption(f"Details for the first {MAX_CARDS} of {len(good)} images; all are in the table.")
if len(results) > 1:
    st.subheader("All results")
    table = results_table(results)
    confidence = st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)
    st.dataframe(table, hide_index=True, column_config={"confidence": confidence})
    csv = table.to_csv(index=False).encode()
    st.download_button("Download CSV", csv, "predictions.csv", icon=":material/download:")
