"""Classify: upload images, take a webcam photo, draw, or stream the live camera, and see what a
trained network predicts.

Each image is shown as the network sees it (with the steps from the original to the model input),
with its top-k probabilities and a Grad-CAM map; the what-if panel changes one image and
re-predicts. Results are cached per upload id, so a slider never decodes the files again. A bad
file gets its own message; the others are still classified; a blank one is "nothing to read".
"""

from __future__ import annotations

import hashlib

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from cnnlab.classify import IMAGE_TYPES, Classified, classify_files, results_table
from cnnlab.runs import get_run
from cnnlab.text import md_escape
from pages.ui import common, run_pick
from pages.ui.classify_cards import blank_card, card, error_message
from pages.ui.classify_live import https_warning, live_panel
from pages.ui.classify_whatif import whatif_panel

MAX_CARDS = 12  # images shown in detail; all of them are in the results table
INVERT = {"Auto": None, "Invert": True, "Keep": False}  # colour inversion before predicting
FIT = {"Centre crop": "crop", "Pad to square": "pad"}  # photo models: keep the aspect ratio
CHART = common.chart_config("class probabilities")


@st.cache_data(show_spinner="Classifying…", max_entries=16)
def classify(
    run_id: str,
    weights_mtime: float,
    ids: tuple[str, ...],
    invert: bool | None,
    fit: str,
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
        fit=fit,
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


common.ensure_app_shell()  # a deep link on a fresh server still goes through app.py
st.title("Classify")
loaded = run_pick.pick_trained_run("classify_run")
channels, height, width = loaded.preprocess.input_shape
num_classes = len(loaded.class_names)

sources = ["Upload", "Webcam", "Live camera", "Draw"]
source = st.segmented_control("Image from", sources, default="Upload", required=True)
photo = loaded.preprocess.resolved_style == "photo"
settings = st.columns(4 if photo else 3)
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
fit = "crop"
if photo:
    fit_name = settings[3].segmented_control(
        "Non-square photos",
        list(FIT),
        default="Centre crop",
        required=True,
        key="classify_fit",
        help="Photos are never squashed: cut the centre to the network's square, or pad the "
        "sides with the training images' mean colour.",
    )
    fit = FIT[fit_name]

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
    https_warning()
    shot = st.camera_input("Take a photo", key="classify_camera")
    if shot is not None:
        ids, files = [shot.file_id], [("camera photo", shot.getvalue())]
elif source == "Live camera":
    live_panel(loaded, top_k, alpha, INVERT[invert], fit if photo else None)
    st.stop()
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
    how = (
        "the ink is cropped, fitted and centred the way the training digits were"
        if not photo
        else "the aspect ratio is kept (centre crop or padding)"
    )
    st.caption(
        f"Images become {width}×{height} {'greyscale' if channels == 1 else 'colour'} pixels, "
        f"the size this network was trained on; {how}."
    )
    st.stop()

run = get_run(loaded.run_id)
version = run.weights_version()
results = classify(loaded.run_id, version, tuple(ids), INVERT[invert], fit, tuple(files))
for item in results:
    if item.blank:
        blank_card(item)
    elif not item.ok:
        error_message(item)
good = [item for item in results if item.ok]
for i, item in enumerate(good[:MAX_CARDS]):
    card(i, item, top_k, alpha)
if len(good) > MAX_CARDS:
    st.caption(f"Details for the first {MAX_CARDS} of {len(good)} images; all are in the table.")
if good:
    whatif_panel(loaded, good[:MAX_CARDS])
if len(results) > 1:
    st.subheader("All results")
    table = results_table(results)
    confidence = st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)
    st.dataframe(table, hide_index=True, column_config={"confidence": confidence})
    csv = table.to_csv(index=False).encode()
    st.download_button("Download CSV", csv, "predictions.csv", icon=":material/download:")
