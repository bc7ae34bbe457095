"""Classify page: the what-if panel. Sliders change the model input and re-predict at once.

An `st.fragment`: a slider move reruns only this panel (~40 ms server time,
bench/bench_whatif.py), not the page, so the classified images are not redrawn.
"""

from __future__ import annotations

import streamlit as st

from cnnlab.classify import Classified
from cnnlab.display import enlarge
from cnnlab.runs import LoadedModel
from cnnlab.text import md_escape
from cnnlab.whatif import WhatIf, before_after_bars, whatif_predict
from pages.ui.charts import chart_config

SIDE = 200  # pixels on screen for the changed input
CHART = chart_config("what-if probabilities")


def knobs_from_sliders(side: int) -> WhatIf:
    """The sliders (two columns) read into a WhatIf; `side` = the model input's side, pixels."""
    geometry, look = st.columns(2)
    reach = max(1, side // 2)
    knobs = dict(
        rotate=geometry.slider("Rotate (degrees)", -180, 180, 0, 5, key="whatif_rotate"),
        shift_x=geometry.slider("Shift right (pixels)", -reach, reach, 0, key="whatif_shift_x"),
        shift_y=geometry.slider("Shift down (pixels)", -reach, reach, 0, key="whatif_shift_y"),
        scale=geometry.slider("Scale", 0.3, 2.0, 1.0, 0.05, key="whatif_scale"),
        blur=look.slider("Blur (sigma, pixels)", 0.0, 3.0, 0.0, 0.1, key="whatif_blur"),
        noise=look.slider("Noise (grey levels)", 0, 128, 0, 4, key="whatif_noise"),
        brightness=look.slider("Brightness", -128, 128, 0, 8, key="whatif_brightness"),
    )
    patch = geometry.slider("Occlusion patch (pixels, 0 = off)", 0, side, 0, key="whatif_patch")
    if patch:
        knobs["patch_x"] = look.slider("Patch across", 0.0, 1.0, 0.5, 0.05, key="whatif_patch_x")
        knobs["patch_y"] = look.slider("Patch down", 0.0, 1.0, 0.5, 0.05, key="whatif_patch_y")
    return WhatIf(patch=patch, **knobs)


def reset() -> None:
    for key in list(st.session_state):
        if str(key).startswith("whatif_") and key != "whatif_image":
            del st.session_state[key]


@st.fragment
def whatif_panel(loaded: LoadedModel, items: list[Classified]) -> None:
    """Pick an image, move the sliders, see the changed input and before/after probabilities."""
    st.subheader("What if…?")
    st.caption(
        "Change the image the network sees and watch its probabilities move: what does it "
        "rely on? Every change re-predicts at once."
    )
    names = [f"{i + 1}: {item.name}" for i, item in enumerate(items)]
    pick = st.selectbox("Image", names, key="whatif_image") if len(items) > 1 else names[0]
    item = items[names.index(pick)] if pick in names else items[0]
    knobs = knobs_from_sliders(max(item.x.shape[1:]))
    st.button("Reset the sliders", on_click=reset, icon=":material/restart_alt:")
    fill = (
        [255 * m for m in loaded.preprocess.mean]
        if loaded.preprocess.resolved_style == "photo"
        else [0.0]
    )
    result = whatif_predict(loaded.model, item.x, knobs, fill)
    before, after = int(result.before.argmax()), int(result.after.argmax())
    picture, chart = st.columns([1, 2])
    picture.image(enlarge(result.x, SIDE), caption="the changed input", width=SIDE)
    names_k = loaded.class_names
    with chart:
        st.markdown(
            f"before **{md_escape(names_k[before])}** {result.before[before]:.1%} → "
            f"after **{md_escape(names_k[after])}** {result.after[after]:.1%}"
        )
        top = min(5, len(names_k))
        st.plotly_chart(
            before_after_bars(names_k, result.before, result.after, top),
            config=CHART,
            key="whatif_bars",
        )
