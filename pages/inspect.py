"""Inspect: look inside a trained network for one image — prediction, Grad-CAM, feature maps, filters.

The image is a test image (by class and number, or by its test index) or an upload, prepared
exactly like the Classify page does; Evaluate's galleries open their images here
(`pages/ui/inspect_link.py`). Feature maps, Grad-CAM maps and each layer's grid are cached per
(run, image), so moving a slider redraws from memory (`pages/ui/inspect_cache.py`).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnnlab import plots
from cnnlab.display import cam_picture, enlarge
from cnnlab.explain import default_cam_layer, first_layer_filters
from cnnlab.inference import predict_images
from cnnlab.runs import get_run
from cnnlab.text import md_escape
from pages.ui import common, run_pick, watch_views
from pages.ui.inspect_cache import filters_figure, heat_map, image_key, layer_maps, maps_figure
from pages.ui.inspect_link import apply_request
from pages.ui.inspect_picker import test_image, uploaded_image

SIDE = 192  # pixels on screen for the input image and the heat maps
CHART = common.chart_config("inspect")


common.ensure_app_shell()  # a deep link on a fresh server still goes through app.py
st.title("Inspect")
apply_request()  # an image opened from Evaluate: set the pickers' state before they are drawn
loaded = run_pick.pick_trained_run("inside_run")
cache_key = (loaded.run_id, get_run(loaded.run_id).weights_version())
if watch_views.inspect_view(loaded.run_id):  # Filmstrip / Embedding over the run's snapshots
    st.stop()
model, names = loaded.model, loaded.class_names
source = st.segmented_control(
    "Image from", ["Test set", "Upload"], default="Test set", required=True, key="inside_source"
)
chosen = test_image(loaded) if source == "Test set" else uploaded_image(loaded)
if chosen is None:
    st.info("Choose a test image or upload one to look inside the network.")
    st.stop()
x, caption = chosen  # uint8 (C, H, W), as the network sees it
cache_key = (*cache_key, image_key(x))  # (run, weights version, image digest)

prediction = predict_images(model, [x], names, k=min(5, len(names)))[0]
probs = prediction.probs  # (K,)
ranked = np.argsort(-probs, kind="stable")  # class indices, most likely first
maps = layer_maps(*cache_key, x)  # [(layer name, (C', H', W'))] in forward order
layers = [name for name, _ in maps]
if not layers:
    st.info("This network has no convolution layers, so there is nothing to look inside.")
    st.stop()

st.subheader("Prediction")
image_col, bars_col = st.columns([1, 3])
image_col.image(enlarge(x, SIDE), caption=caption)
with bars_col:
    st.plotly_chart(plots.probability_bars(prediction.top), config=CHART, key="inside_bars")

st.subheader("Grad-CAM: where the network looks")
controls = st.columns(3)
if st.session_state.get("inside_layer") not in layers:  # another run: back to the default
    st.session_state.pop("inside_layer", None)
start = layers.index(default_cam_layer(maps))  # the last conv with maps larger than 1x1
layer = controls[0].selectbox("Target layer", layers, index=start, key="inside_layer")
other = controls[1].selectbox(
    "Compare with class",
    ranked,
    index=min(1, len(names) - 1),
    format_func=lambda i: f"{names[i]} ({probs[i]:.1%})",
)
alpha = controls[2].slider("Heat map opacity", 0.0, 1.0, 0.5, 0.05, key="inside_alpha")
pictures = st.columns(3)
pictures[0].image(enlarge(x, SIDE), caption="input")
for column, target in zip(pictures[1:], (int(ranked[0]), int(other)), strict=True):
    heat = heat_map(*cache_key, int(target), layer, x)  # (H, W) in [0, 1]
    label = "predicted" if target == ranked[0] else "chosen"
    column.image(
        cam_picture(x, heat, alpha, SIDE),
        caption=f"{label}: **{md_escape(names[target])}** ({probs[target]:.1%})",
    )
st.caption(
    "Warm colours mark the pixels that raise the class's score most, measured at the "
    "target layer (Grad-CAM). Earlier layers give finer but noisier maps."
)
if dict(maps)[layer].shape[1:] == (1, 1):
    st.info(
        f"{layer} outputs 1×1 maps here, so its heat map is one flat colour. Pick an "
        "earlier target layer to see where the network looks.",
        icon=":material/info:",
    )

st.subheader("Feature maps")
shown = st.slider("Channels per layer", 4, 64, 16, 4, key="inside_channels")
grid = st.columns(2)
for i, (name, activation) in enumerate(maps):  # activation: (C', H', W') after the activation
    channels, height, width = activation.shape
    with grid[i % 2]:
        st.markdown(f"**{name}** · {channels} channels of {height}×{width}")
        st.plotly_chart(
            maps_figure(*cache_key, name, shown, activation), config=CHART, key=f"inside_maps_{i}"
        )
st.caption(
    "Each tile is one channel after the layer's activation, scaled to its own range: "
    "bright = strong response. Deeper layers are smaller and more abstract."
)

st.subheader("First-layer filters")
filters = first_layer_filters(model)  # (F, C, k, k)
st.markdown(
    f"**{layers[0] if layers else 'first conv'}** · {filters.shape[0]} filters of "
    f"{filters.shape[1]}×{filters.shape[2]}×{filters.shape[3]}"
)
st.plotly_chart(filters_figure(*cache_key[:2]), config=CHART, key="inside_filters")
st.caption(
    "The learned kernels, each scaled to its own range"
    + (
        " (colour: the three input channels)."
        if filters.shape[1] == 3
        else " (grey: averaged over input channels)."
    )
)
