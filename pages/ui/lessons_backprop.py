"""Tab 7 of the Learn page: backpropagation through a tiny CNN (conv -> ReLU -> pool -> dense ->
softmax) on the lesson image shrunk to 8×8: forward, the gradients layer by layer, one update."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnnlab import learn
from cnnlab.learn import backprop
from pages.ui.lessons import lesson_columns, plot, see_in_lab
from pages.ui.lessons_quiz import check_questions

LEARNING_RATES = [0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0]


def kernel_inputs(start: np.ndarray) -> tuple[np.ndarray, float]:
    """The conv kernel as a 3×3 grid of number boxes, and its bias."""
    st.markdown("**Conv kernel** (edit any weight)")
    kernel = np.zeros((3, 3))
    for i in range(3):
        cols = st.columns(3)
        for j in range(3):
            kernel[i, j] = cols[j].number_input(
                f"w{i}{j}", -2.0, 2.0, float(start[i, j]), step=0.05, key=f"learn_bp_k{i}{j}",
                label_visibility="collapsed",
            )  # fmt: skip
    bias = st.number_input("Conv bias", -1.0, 1.0, 0.0, step=0.05, key="learn_bp_bias")
    return kernel, float(bias)


def explain() -> None:
    st.subheader("Backpropagation")
    st.markdown(
        "Training needs, for every weight, how the loss would change if that weight moved a "
        "little: its **gradient**. Backpropagation gets them all in one pass *backwards*: the "
        "output's gradient is simply **probability − 1 for the true class** (and the "
        "probability for the others); each layer then passes the gradient it received "
        "to its input by the **chain rule**."
    )
    st.latex(
        r"\frac{\partial L}{\partial w} = \frac{\partial L}{\partial \text{out}} \cdot "
        r"\frac{\partial \text{out}}{\partial w}"
    )
    st.latex(r"w \leftarrow w - \eta\, \frac{\partial L}{\partial w}")
    st.markdown(
        "- **dense**: each weight's gradient = its input × the class's gradient\n"
        "- **max pool**: the gradient goes only to each window's largest value\n"
        "- **ReLU**: passes the gradient where the value was positive, blocks it elsewhere\n"
        "- **conv**: each kernel weight adds up input × gradient over all positions"
    )
    see_in_lab("lr_finder", "filmstrip")


def backprop_lesson(lesson: learn.LessonImage) -> None:
    """Tab 7 on `lesson`'s image, shrunk to 8×8."""
    text, result = lesson_columns()
    with text:
        explain()
    names = lesson.class_names
    x = backprop.small_image(lesson.gray)  # (8, 8)
    with result:
        left, right = st.columns([1, 2], gap="medium")
        with left:
            kernel, bias = kernel_inputs(backprop.start_weights(len(names)).kernel)
        with right:
            target = st.selectbox(
                "True class", range(len(names)), index=lesson.label or 0,
                format_func=lambda i: names[i], key="learn_bp_target",
            )  # fmt: skip
            lr = st.select_slider("Learning rate η", LEARNING_RATES, 0.5, key="learn_bp_lr")
            seed = st.number_input("Dense weights: random draw", 0, 99, 0, key="learn_bp_seed")
        start = backprop.start_weights(len(names), int(seed))
        weights = backprop.TinyWeights(kernel, bias, start.dense, start.dense_bias)
        step = backprop.training_step(x, weights, int(target), float(lr))
        show(step, names, float(lr))
    check_questions("backprop")


def show(step: backprop.Step, names: list[str], lr: float) -> None:
    """Forward, backward and the update, top to bottom."""
    before, after, grads = step.before, step.weights_after, step.grads
    st.markdown("**1 · Forward**: the image through each layer")
    st.plotly_chart(backprop.forward_figure(before), **plot("backprop forward"))
    st.plotly_chart(backprop.output_figure(before, grads, names), **plot("backprop output"))
    st.markdown(
        "**2 · Backward**: ∂L/∂ each layer's output, under that layer (red: raising the "
        "value raises the loss; blue: lowers it; white: no effect)"
    )
    st.plotly_chart(backprop.backward_figure(grads), **plot("backprop backward"))
    st.markdown(f"**3 · Update**: every weight moves by −η × its gradient (η = {lr:g})")
    w = step.weights
    figure = backprop.weights_figure(w.kernel, grads.kernel, after.kernel, "kernel")
    st.plotly_chart(figure, **plot("backprop kernel"))
    figure = backprop.weights_figure(w.dense, grads.dense, after.dense, "dense")
    st.plotly_chart(figure, **plot("backprop dense"))
    cols = st.columns(3)
    cols[0].metric("Loss before", f"{before.loss:.3f}")
    cols[1].metric(
        "Loss after one step", f"{step.after.loss:.3f}", f"{step.after.loss - before.loss:+.3f}",
        delta_color="inverse",
    )  # fmt: skip
    p_true = step.after.probs[before.target]
    cols[2].metric(f"p({names[before.target]}) after", f"{p_true:.1%}",
                   f"{p_true - before.probs[before.target]:+.1%}")  # fmt: skip
    if step.after.loss > before.loss:
        st.warning(
            "The loss went **up**: this step was too large and overshot. Lower η.",
            icon=":material/trending_up:",
        )
