"""Classify page: one card per classified image, with its "as the network sees it" step strip."""

from __future__ import annotations

import streamlit as st

from cnnlab import plots
from cnnlab.classify import Classified
from cnnlab.display import cam_picture, enlarge
from cnnlab.text import md_escape
from pages.ui.charts import chart_config

SIDE = 160  # pixels on screen for the network's view and the heat map
STRIP_SIDE = 96  # pixels on screen per picture of the step strip
CHART = chart_config("class probabilities")


def step_strip(item: Classified) -> None:
    """The pictures from the original to the model input, left to right, each captioned."""
    if not item.steps:
        return
    st.caption("As the network sees it, step by step:")
    cols = st.columns(len(item.steps))
    for col, (caption, picture) in zip(cols, item.steps, strict=True):
        if caption == "original" and item.size:
            caption = f"original, {item.size[0]}×{item.size[1]} px"
        col.image(enlarge(picture, STRIP_SIDE), caption=caption, width=STRIP_SIDE)


def blank_card(item: Classified) -> None:
    """A readable image with nothing in it: say so instead of a confident guess."""
    with st.container(border=True):
        st.markdown(f"**{md_escape(item.name)}**: nothing to read here")
        st.info(md_escape(item.error), icon=":material/visibility_off:")
        step_strip(item)


def card(i: int, item: Classified, top_k: int, alpha: float) -> None:
    """One classified image: original, network input, Grad-CAM, probability bars, step strip."""
    name, p = item.prediction.top[0]
    with st.container(border=True, key=f"classify_card_{i}"):
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
        step_strip(item)


def error_message(item: Classified) -> None:
    st.error(f"**{md_escape(item.name)}**: {md_escape(item.error)}", icon=":material/broken_image:")
