"""Learn: the ideas behind a CNN, each one a short text next to a live control and its result.

One image flows through the tabs: convolution -> activation -> pooling -> flatten + dense ->
softmax + cross-entropy; then gradient descent on a 2-weight loss, and the user's own model on the
same image. The maths lives in cnnlab.learn, the figures in cnnlab.learn_plots.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnnlab import explain, learn, plots
from cnnlab import learn_plots as lp
from cnnlab.config import DataConfig
from cnnlab.data import SHAPE_CLASSES, DatasetUnavailable
from cnnlab.data.images import ImageError, open_image
from pages import common

UPLOAD = "Upload your own image"
PLOT = dict(width="stretch", config={"displayModeBar": False})  # st.plotly_chart options


def size_formula(shape: tuple[int, ...], k: int, s: int, p: int | None) -> str:
    """LaTeX of out = floor((n + 2p - k) / s) + 1 with the numbers filled in, per side when the
    map is not square; p=None: pooling, no padding term."""

    def filled(n: int) -> str:
        top = f"{n} - {k}" if p is None else rf"{n} + 2 \cdot {p} - {k}"
        out = learn.output_size(n, k, s, p or 0)
        return rf"\left\lfloor \frac{{{top}}}{{{s}}} \right\rfloor + 1 = \mathbf{{{out}}}"

    general = r"\text{out} = \left\lfloor \frac{n - k}{s} \right\rfloor + 1"
    if p is not None:
        general = r"\text{out} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1"
    if shape[0] == shape[1]:
        return f"{general} = {filled(shape[0])}"
    return rf"{general} \qquad \text{{height: }} {filled(shape[0])} \qquad \text{{width: }} {filled(shape[1])}"


def dims(x: np.ndarray) -> str:
    return f"{x.shape[0]}×{x.shape[1]}"


def loss_text(v: float) -> str:
    """A loss for a sentence: 3 significant digits, big ones with thousands separators."""
    return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}"


common.ensure_app_shell()  # a deep link on a fresh server still goes through app.py
st.title("Learn: how a CNN works")
st.caption(
    "Six ideas behind every CNN. Pick an image; each tab works on the result of the one before."
)

# -- the image every tab uses ---------------------------------------------------------------------
current: DataConfig = st.session_state.data_cfg
sources = {"Shapes (32×32 colour)": DataConfig(), "Digits (8×8 gray)": DataConfig(name="digits")}
if current.name not in ("shapes", "digits"):
    sources[f"Your dataset: {common.data_label(current)}"] = current
sources[UPLOAD] = None
pick, which, preview, about = st.columns([3, 3, 1, 2], vertical_alignment="bottom")
source = pick.selectbox("Image from", list(sources), key="learn_source")
lesson: learn.LessonImage | None = None
if source == UPLOAD:
    file = which.file_uploader(
        "An image (PNG, JPEG, …)",
        key="learn_upload",
        type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"],
    )
    if file is not None and not common.upload_too_large(file.size):
        try:
            lesson = learn.uploaded_image(
                open_image(file.getvalue()), file.name, list(SHAPE_CLASSES)
            )
        except ImageError as exc:
            st.error(str(exc), icon=":material/broken_image:")
    if lesson is None:
        st.caption("Until you upload one, the lessons use a shapes image.")
        lesson = learn.dataset_image(common.dataset_for(DataConfig()), 0)
else:
    try:
        dataset = common.dataset_for(sources[source])
    except (DatasetUnavailable, ValueError) as exc:
        st.error(f"{exc} Using the built-in shapes instead.", icon=":material/cloud_off:")
        dataset = common.dataset_for(DataConfig())
    number = which.number_input(
        "Image number", 0, len(dataset.test) - 1, 0, key=f"learn_n_{source}"
    )
    lesson = learn.dataset_image(dataset, int(number))
image = lesson.gray  # float (H, W) in [0, 1]
preview.image(learn.enlarged(lesson.picture, 72))
about.markdown(lesson.caption)

tabs = st.tabs(
    [
        "1 · Convolution",
        "2 · Activation",
        "3 · Pooling",
        "4 · From maps to classes",
        "5 · Learning",
        "6 · Your model",
    ]
)

# -- 1. convolution -------------------------------------------------------------------------------
with tabs[0]:
    text, result = st.columns([1, 2.3], gap="large")
    controls = result.columns([1.3, 1, 1, 1])
    name = controls[0].selectbox(
        "Kernel", learn.KERNEL_NAMES, key="learn_kernel", index=learn.KERNEL_NAMES.index("sobel x")
    )
    size = controls[1].radio(
        "Kernel size", [3, 5], format_func=lambda k: f"{k}×{k}", horizontal=True, key="learn_size"
    )
    stride = controls[2].slider("Stride", 1, 3, 1, key="learn_stride")
    padding = controls[3].slider("Padding", 0, 3, 0, key="learn_padding")
    with text:
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
    weights = table.fillna(0.0).to_numpy(dtype=float)  # (k, k); a cleared cell counts as 0
    (h, w), (top, left) = image.shape, learn.busiest_patch(image, 8)
    out_h, out_w = (learn.output_size(n, size, stride, padding) for n in (h, w))
    if min(out_h, out_w) >= 1:
        feature = learn.conv2d(image, weights, stride, padding)  # (out_h, out_w)
    else:
        result.error(
            f"A {size}×{size} kernel does not fit in this {h}×{w} image with padding "
            f"{padding}: add padding or use a smaller kernel. The next tabs use the image."
        )
        feature = image
    result.plotly_chart(
        lp.maps_figure(
            [(f"input {dims(image)}", image), (f"feature map {dims(feature)}", feature)],
            image_first=True,
            box=(top, left, 8),
        ),
        **PLOT,
    )
    result.latex(size_formula(image.shape, size, stride, padding))

    st.divider()
    text, result = st.columns([1, 2.3], gap="large")
    patch = image[top : top + 8, left : left + 8]  # (8, 8) or smaller; outlined above
    fits = min(learn.output_size(n, size, stride, padding) for n in patch.shape) >= 1
    with text:
        st.subheader("Step by step")
        st.markdown(
            f"The dashed square above, {dims(patch)} pixels, up close. Move the kernel "
            f"with the slider: the {size * size} pixels under it are multiplied by the "
            "kernel's numbers and the products added up, giving one output number. "
            "**Stride** is how far it jumps; **padding** adds a frame of zeros."
        )
    if not fits:
        result.warning("The kernel does not fit in this patch: lower the kernel size.")
    else:
        patch_out = learn.conv2d(patch, weights, stride, padding)  # (h', w')
        position = result.slider(
            "Kernel position", 1, patch_out.size, 1, key=f"learn_position_{patch_out.shape}"
        )
        row, col = divmod(position - 1, patch_out.shape[1])
        step = learn.conv_step(patch, weights, row, col, stride, padding)
        result.plotly_chart(
            lp.slide_figure(patch, weights, step, padding, patch_out, position), **PLOT
        )
        result.plotly_chart(lp.multiply_figure(step, weights), **PLOT)

# -- 2. activation --------------------------------------------------------------------------------
with tabs[1]:
    text, result = st.columns([1, 2.3], gap="large")
    with text:
        st.subheader("Activation functions")
        st.markdown(
            "Convolutions only multiply and add, so a stack of them is still one big "
            "linear function. An **activation** bends every value on its own, which lets "
            "deep networks learn complicated shapes. **ReLU** just sets negatives to 0."
        )
    act = result.radio("Activation", list(learn.ACTIVATIONS), horizontal=True, key="learn_act")
    activated = learn.ACTIVATIONS[act](feature)  # (out_h, out_w)
    text.latex(learn.ACTIVATION_FORMULAS[act])
    text.plotly_chart(lp.activation_curves(act), **PLOT)
    result.plotly_chart(
        lp.maps_figure(
            [(f"feature map {dims(feature)}", feature), (f"after {act}", activated)],
            same_scale=True,
        ),
        **PLOT,
    )
    negative, zeroed = float((feature < 0).mean()), learn.zero_share(activated)
    left_metric, right_metric = result.columns(2)
    left_metric.metric("Negative values before", f"{negative:.0%}")
    right_metric.metric(f"Values that are exactly 0 after {act}", f"{zeroed:.0%}")

# -- 3. pooling -----------------------------------------------------------------------------------
with tabs[2]:
    text, result = st.columns([1, 2.3], gap="large")
    with text:
        st.subheader("Pooling")
        st.markdown(
            "**Pooling** shrinks a feature map: each window becomes one number, its "
            "largest value (**max**) or its mean (**average**). The next layers get less "
            "to compute, and a feature that moves by a pixel gives nearly the same result."
        )
    controls = result.columns(3)
    kind = controls[0].radio(
        "Pooling",
        ["max", "avg"],
        horizontal=True,
        key="learn_pool",
        format_func={"max": "max", "avg": "average"}.get,
    )
    window = controls[1].slider("Window", 2, 4, 2, key="learn_window")
    pool_stride = controls[2].slider("Stride", 1, 4, 2, key="learn_pool_stride")
    if window <= min(activated.shape):
        pooled = learn.pool2d(activated, kind, window, pool_stride)  # (H', W')
    else:
        result.error(
            f"A {window}×{window} window does not fit in the {dims(activated)} map: "
            "use a smaller window. The next tab uses the map as it is."
        )
        pooled = activated
    result.plotly_chart(
        lp.maps_figure(
            [
                (f"after {act}: {dims(activated)}", activated),
                (f"{kind} pool: {dims(pooled)}", pooled),
            ],
            same_scale=True,
        ),
        **PLOT,
    )
    result.latex(size_formula(activated.shape, window, pool_stride, None))
    result.markdown(
        f"**{activated.size:,}** numbers → **{pooled.size:,}** numbers "
        f"({activated.size / pooled.size:.1f}× fewer)"
    )

# -- 4. from feature maps to classes --------------------------------------------------------------
with tabs[3]:
    text, result = st.columns([1, 2.3], gap="large")
    classes = lesson.class_names[:4]
    with text:
        st.subheader("From feature maps to classes")
        st.markdown(
            "The pooled map is **flattened** into one long list. A **dense layer** gives "
            "each class a score, its **logit**: the features times that class's weights, "
            "added up. **Softmax** turns logits into probabilities; the lower the "
            "**temperature** T, the more confident."
        )
        st.latex(r"p_i = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}")
        st.markdown(
            "**Cross-entropy**, the loss training lowers, is minus the log of the "
            "probability of the true class: near 0 when confident and right, large when "
            "confident and wrong."
        )
    dense_w, dense_b = learn.dense_weights(pooled.size, len(classes))  # (K, N), (K,)
    logits = learn.dense(pooled, dense_w, dense_b)  # (K,)
    result.plotly_chart(lp.dense_figure(pooled, dense_w, logits, classes), **PLOT)
    edit, bars = result.columns([1, 2], gap="medium")
    edit.caption("The logits (edit them)")
    table = edit.data_editor(
        pd.DataFrame({"class": classes, "logit": logits.round(2)}),
        key=f"learn_logits_{hash(tuple(logits.round(2)))}",
        hide_index=True,
        disabled=["class"],
    )
    z = table["logit"].fillna(0.0).to_numpy(dtype=float)  # (K,)
    temperature = edit.select_slider(
        "Temperature T", [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0], 1.0, key="learn_temperature"
    )
    default_true = lesson.label if lesson.label is not None and lesson.label < len(classes) else 0
    target = edit.selectbox(
        "True class",
        range(len(classes)),
        index=default_true,
        format_func=classes.__getitem__,
        key="learn_target",
    )
    probs = learn.softmax(z, temperature)  # (K,)
    loss = learn.cross_entropy(z, target, temperature)
    bars.plotly_chart(lp.probability_figure(classes, probs, target), **PLOT)
    bars.latex(
        rf"L = -\log p_{{\text{{{classes[target]}}}}} = -\log {probs[target]:.3f} "
        rf"= \mathbf{{{loss:.3f}}}"
    )

# -- 5. learning ----------------------------------------------------------------------------------
with tabs[4]:
    text, result = st.columns([1, 2.3], gap="large")
    with text:
        st.subheader("Learning: gradient descent")
        st.markdown(
            "Training changes the weights to lower the loss. **Gradient descent** measures "
            "the slope of the loss and steps downhill; the **learning rate** is the step "
            "size. Too small crawls; too large overshoots and blows up. **Momentum** keeps "
            "part of the last step, which speeds travel along a narrow valley."
        )
        st.latex(
            r"\begin{aligned} v &\leftarrow \beta\, v + \nabla L(w) \\ w &\leftarrow w - \eta\, v"
            r"\end{aligned}"
        )
        st.caption(
            "η = learning rate, β = momentum. Here the loss has just two weights, w1 "
            "and w2; a real CNN has thousands, but the rule is the same."
        )
    controls = result.columns([1.2, 1.6, 1, 1])
    surface_name = controls[0].radio(
        "Loss surface",
        learn.SURFACES.names(),
        key="learn_surface",
        format_func=lambda n: learn.SURFACES.get(n).title,
    )
    surface = learn.SURFACES.get(surface_name)
    presets = learn.lr_presets(surface)
    choice = controls[1].radio(
        "Learning rate",
        [*presets, "your own"],
        index=1,
        key="learn_lr_preset",
        horizontal=True,
        format_func=lambda p: f"{p} ({presets[p]})" if p in presets else p,
    )
    if choice in presets:
        lr = presets[choice]
    else:
        lr = controls[1].slider(
            "η",
            0.001,
            round(1.5 * surface.max_stable_lr, 3),
            presets["about right"],
            step=0.001,
            format="%.3f",
            key=f"learn_lr_{surface_name}",
        )
    momentum = controls[2].slider("Momentum β", 0.0, 0.95, 0.0, step=0.05, key="learn_momentum")
    steps = controls[3].slider("Steps", 5, 100, 30, key="learn_steps")
    descent = learn.gradient_descent(surface, lr, steps, momentum)
    start, end = loss_text(descent.losses[0]), loss_text(descent.final_loss)
    if descent.outcome == "diverged":
        result.error(
            f"**Diverged** after {descent.steps} steps: the loss grew from {start} to {end}. "
            f"Each step overshoots the valley further; above η = {surface.max_stable_lr:.3g} "
            "plain gradient descent cannot settle here.",
            icon=":material/error:",
        )
    elif descent.outcome == "converged":
        result.success(
            f"**Converged**: loss {start} → {descent.final_loss:.2g} in {descent.steps} steps.",
            icon=":material/check_circle:",
        )
    else:
        result.warning(
            f"**Still on the way**: loss {start} → {end} after {descent.steps} steps. More "
            "steps, a larger learning rate or momentum would get further.",
            icon=":material/hourglass_top:",
        )
    path_col, curve_col = result.columns([3, 2])
    path_col.plotly_chart(lp.descent_figure(surface, descent), **PLOT)
    curve_col.plotly_chart(lp.loss_curve(descent), **PLOT)

# -- 6. your model --------------------------------------------------------------------------------
with tabs[5]:
    text, result = st.columns([1, 2.3], gap="large")
    with text:
        st.subheader("Your model")
        st.markdown(
            "A real CNN does all of the above, with many kernels per layer whose numbers "
            "were **learned** by gradient descent instead of chosen by hand. Its first "
            "layer often finds edges and colours, like the kernels in tab 1."
        )
        st.page_link(
            "pages/model.py", label="Model: its layer table", icon=":material/account_tree:"
        )
        st.page_link(
            "pages/inside.py", label="Inspect: inside a trained model", icon=":material/visibility:"
        )
    with result:
        if not common.runs_with_weights():
            st.info(
                "No trained model yet. One click on **Quick start** on the Home page trains a "
                "small CNN on the shapes in a few seconds; come back here to see what its "
                "first layers make of this image.",
                icon=":material/school:",
            )
            st.page_link("pages/home.py", label="Home: quick start", icon=":material/home:")
            st.stop()
        loaded = common.pick_trained_run("learn_run")
        view = learn.first_feature_maps(loaded.model, loaded.preprocess, lesson.picture)
        first, second = st.columns([1, 3])
        first.plotly_chart(
            plots.image_grid(view.input[None], ["model input"], upscale_to=128), **PLOT
        )
        kernels = explain.first_layer_filters(loaded.model)  # (F, C, k, k)
        second.plotly_chart(plots.filter_grid(kernels, max_filters=16, cols=8), **PLOT)
        second.caption(
            f"The first layer's {len(kernels)} learned {kernels.shape[2]}×"
            f"{kernels.shape[3]} kernels (the first 16), like the hand-made ones in tab 1."
        )
        for layer, maps in view.maps:  # (C', H', W') each
            st.markdown(
                f"**Layer `{layer}`**: {maps.shape[0]} feature maps of "
                f"{maps.shape[1]}×{maps.shape[2]} (after its activation; the first 16; "
                "yellow = strong)"
            )
            st.plotly_chart(plots.feature_map_grid(maps, max_maps=16, cols=8), **PLOT)
