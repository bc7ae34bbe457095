"""Tab 1 of the Learn page: a kernel (chosen, then editable) over the whole image, and the same
kernel step by step over the image's busiest patch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnnlab import learn
from pages.ui.lessons import cached, lesson_columns, plot

PATCH = 8  # side (pixels) of the patch the step-by-step zooms into


def convolution_lesson(image: np.ndarray) -> np.ndarray:
    """Tab 1 on `image` (H, W) in [0, 1]. Returns the feature map (H', W') the next tabs work on:
    the image itself when the kernel does not fit."""
    text, result = lesson_columns()
    controls = result.columns([1.3, 1, 1, 1])
    st.session_state.setdefault("learn_kernel", "sobel x")  # or a link's (pages/ui/share.py)
    name = controls[0].selectbox("Kernel", learn.KERNEL_NAMES, key="learn_kernel")
    size = controls[1].radio(
        "Kernel size", [3, 5], format_func=lambda k: f"{k}×{k}", horizontal=True, key="learn_size"
    )
    stride = controls[2].slider("Stride", 1, 3, 1, key="learn_stride")
    padding = controls[3].slider("Padding", 0, 3, 0, key="learn_padding")
    with text:
        weights = kernel_editor(name, size)  # (k, k)
    (h, w), (top, left) = image.shape, learn.busiest_patch(image, PATCH)
    out_h, out_w = (learn.output_size(n, size, stride, padding) for n in (h, w))
    if min(out_h, out_w) >= 1:
        feature = learn.conv2d(image, weights, stride, padding)  # (out_h, out_w)
    else:
        result.error(
            f"A {size}×{size} kernel does not fit in this {h}×{w} image with padding "
            f"{padding}: add padding or use a smaller kernel. The next tabs use the image."
        )
        feature = image
    dims = learn.dims
    result.plotly_chart(
        cached(learn.maps_figure)(
            [(f"input {dims(image)}", image), (f"feature map {dims(feature)}", feature)],
            image_first=True,
            box=(top, left, PATCH),
        ),
        **plot("convolution input and feature map"),
    )
    result.latex(learn.size_formula(image.shape, size, stride, padding))

    st.divider()
    patch = image[top : top + PATCH, left : left + PATCH]  # (8, 8) or smaller; outlined above
    step_by_step(patch, weights, stride, padding)
    return feature


def kernel_editor(name: str, size: int) -> np.ndarray:
    """The lesson's text and the kernel's numbers in an editable table -> float (size, size)."""
    st.subheader("Convolution")
    st.markdown(
        "A **kernel** is a small grid of numbers. It slides over the image; at each "
        "position the pixels under it are multiplied by its numbers and added up, "
        "giving one output pixel. The result is a **feature map**: strong where the "
        "image looks like the kernel."
    )
    st.markdown(f"**{name}** {learn.KERNEL_NOTES[name]}. Its numbers (edit them):")
    letters = [*"ABCDE"][:size]
    number = st.column_config.NumberColumn(
        width=44 if size == 5 else 64, format="%.3g", alignment="center"
    )
    table = st.data_editor(
        pd.DataFrame(learn.kernel(name, size), columns=letters),
        key=f"learn_weights_{name}_{size}",
        hide_index=True,
        column_config=dict.fromkeys(letters, number),
        width="content",
        row_height=40,
    )
    return table.fillna(0.0).to_numpy(dtype=float)  # a cleared cell counts as 0


def step_by_step(patch: np.ndarray, weights: np.ndarray, stride: int, padding: int) -> None:
    """The kernel (k, k) moved by a slider over `patch` (h, w): the window, the products, the sum."""
    text, result = lesson_columns()
    size = weights.shape[0]
    fits = min(learn.output_size(n, size, stride, padding) for n in patch.shape) >= 1
    with text:
        st.subheader("Step by step")
        st.markdown(
            f"The dashed square above, {learn.dims(patch)} pixels, up close. Move the kernel "
            f"with the slider: the {size * size} pixels under it are multiplied by the "
            "kernel's numbers and the products added up, giving one output number. "
            "**Stride** is how far it jumps; **padding** adds a frame of zeros."
        )
    if not fits:
        result.warning("The kernel does not fit in this patch: lower the kernel size.")
        return
    patch_out = learn.conv2d(patch, weights, stride, padding)  # (h', w')
    position = result.slider(
        "Kernel position", 1, patch_out.size, 1, key=f"learn_position_{patch_out.shape}"
    )
    row, col = divmod(position - 1, patch_out.shape[1])
    step = learn.conv_step(patch, weights, row, col, stride, padding)
    result.plotly_chart(
        cached(learn.slide_figure)(patch, weights, step, padding, patch_out, position),
        **plot("convolution sliding window"),
    )
    result.plotly_chart(
        cached(learn.multiply_figure)(step, weights), **plot("convolution multiply and add")
    )
