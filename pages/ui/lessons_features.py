"""Tabs 2-4 of the Learn page, each on the result of the one before: an activation on the
feature map, pooling, then flatten + dense layer + softmax + cross-entropy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnnlab import learn
from pages.ui.lessons import cached, lesson_columns, plot

TEMPERATURES = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0]  # the softmax temperatures on offer


def activation_lesson(feature: np.ndarray) -> tuple[str, np.ndarray]:
    """Tab 2 on the feature map (H', W'). Returns (activation's name, activated map (H', W'))."""
    text, result = lesson_columns()
    with text:
        st.subheader("Activation functions")
        st.markdown(
            "Convolutions only multiply and add, so a stack of them is still one big "
            "linear function. An **activation** bends every value on its own, which lets "
            "deep networks learn complicated shapes. **ReLU** just sets negatives to 0."
        )
    act = result.radio("Activation", list(learn.ACTIVATIONS), horizontal=True, key="learn_act")
    activated = learn.ACTIVATIONS[act](feature)  # (H', W')
    text.latex(learn.ACTIVATION_FORMULAS[act])
    text.plotly_chart(cached(learn.activation_curves)(act), **plot("activation functions"))
    dims = learn.dims
    result.plotly_chart(
        cached(learn.maps_figure)(
            [(f"feature map {dims(feature)}", feature), (f"after {act}", activated)],
            same_scale=True,
        ),
        **plot("activation feature maps"),
    )
    negative, zeroed = float((feature < 0).mean()), learn.zero_share(activated)
    left_metric, right_metric = result.columns(2)
    left_metric.metric("Negative values before", f"{negative:.0%}")
    right_metric.metric(f"Values that are exactly 0 after {act}", f"{zeroed:.0%}")
    return act, activated


def pooling_lesson(activated: np.ndarray, act: str) -> np.ndarray:
    """Tab 3 on the activated map. Returns the pooled map (the map as it is when the window
    does not fit)."""
    text, result = lesson_columns()
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
    stride = controls[2].slider("Stride", 1, 4, 2, key="learn_pool_stride")
    dims = learn.dims
    if window <= min(activated.shape):
        pooled = learn.pool2d(activated, kind, window, stride)  # (H'', W'')
    else:
        result.error(
            f"A {window}×{window} window does not fit in the {dims(activated)} map: "
            "use a smaller window. The next tab uses the map as it is."
        )
        pooled = activated
    result.plotly_chart(
        cached(learn.maps_figure)(
            [
                (f"after {act}: {dims(activated)}", activated),
                (f"{kind} pool: {dims(pooled)}", pooled),
            ],
            same_scale=True,
        ),
        **plot("pooling"),
    )
    result.latex(learn.size_formula(activated.shape, window, stride, None))
    result.markdown(
        f"**{activated.size:,}** numbers → **{pooled.size:,}** numbers "
        f"({activated.size / pooled.size:.1f}× fewer)"
    )
    return pooled


def classes_lesson(pooled: np.ndarray, lesson: learn.LessonImage) -> None:
    """Tab 4: the pooled map through an untrained dense layer into (editable) logits for the
    first 4 classes of the image's dataset, then softmax and the loss for the true class."""
    text, result = lesson_columns()
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
    result.plotly_chart(
        cached(learn.dense_figure)(pooled, dense_w, logits, classes), **plot("dense layer")
    )
    edit, bars = result.columns([1, 2], gap="medium")
    edit.caption("The logits (edit them)")
    table = edit.data_editor(
        pd.DataFrame({"class": classes, "logit": logits.round(2)}),
        key=f"learn_logits_{hash(tuple(logits.round(2)))}",
        hide_index=True,
        disabled=["class"],
    )
    z = table["logit"].fillna(0.0).to_numpy(dtype=float)  # (K,)
    temperature = edit.select_slider("Temperature T", TEMPERATURES, 1.0, key="learn_temperature")
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
    bars.plotly_chart(
        cached(learn.probability_figure)(classes, probs, target), **plot("softmax probabilities")
    )
    bars.latex(learn.cross_entropy_formula(classes[target], probs[target], loss))
