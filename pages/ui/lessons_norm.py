"""Tab 8 of the Learn page: batch-norm and dropout on a batch of real activations (one conv
channel over shapes images), train vs eval mode, then two tiny trainings with and without."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnnlab import learn
from cnnlab.config import DataConfig
from cnnlab.learn import normalize, tiny_runs
from pages.ui import common
from pages.ui.lessons import lesson_columns, plot, see_in_lab
from pages.ui.lessons_quiz import check_questions

POOL_IMAGES = 512  # shapes test images the batches are drawn from
BATCH_SIZES = [4, 16, 64, 256]
LEARNING_RATES = [1e-3, 3e-3, 1e-2, 3e-2]


@st.cache_data(show_spinner=False, max_entries=4)
def conv_pool(kernel_name: str) -> np.ndarray:
    """(N, 30, 30): one conv channel over the first POOL_IMAGES shapes test images (computed once,
    then every slider move only rescales and slices it)."""
    test = common.dataset_for(DataConfig()).test.x[:POOL_IMAGES]
    gray = np.stack([learn.to_gray(x) for x in test])  # (N, 32, 32)
    return normalize.channel_batch(gray, learn.kernel(kernel_name), 1.0, 0.0)


@st.cache_data(show_spinner=False, max_entries=64)
def tiny(setup: tiny_runs.TinySetup) -> tiny_runs.TinyCurves:
    return tiny_runs.tiny_curves(setup)


def explain() -> None:
    st.subheader("Batch-norm and dropout")
    st.markdown(
        "**Batch-norm** rescales each channel to mean 0 and spread 1 using the *current "
        "batch*, then lets the network pick its own scale γ and shift β. However the layers "
        "before it drift while they learn, the next layer sees values in the same range: "
        "training tolerates larger learning rates. In **eval** mode there is no batch to "
        "measure, so it uses running averages collected during training."
    )
    st.latex(r"\hat x = \frac{x - \mu_{\text{batch}}}{\sqrt{\sigma^2_{\text{batch}} + \epsilon}}")
    st.markdown(
        "**Dropout** zeroes each value with probability *p* in training and divides the "
        "rest by 1 − *p*: no unit can rely on one other, which fights memorising. In eval "
        "mode it does nothing."
    )
    see_in_lab("model", "class_curves")


def batch_norm_part(pool: np.ndarray) -> None:
    """The batch-norm histograms: this batch in train mode, and in eval mode."""
    c = st.columns(4)
    size = c[0].select_slider("Batch size", BATCH_SIZES, 64, key="learn_bn_batch")
    which = c[1].slider("Batch number", 0, 9, 0, key="learn_bn_which")
    scale = c[2].slider("Incoming scale", 0.2, 5.0, 2.0, step=0.1, key="learn_bn_scale")
    shift = c[3].slider("Incoming shift", -3.0, 3.0, 1.0, step=0.1, key="learn_bn_shift")
    seen = st.slider("Training batches seen before eval mode", 0, 100, 20, key="learn_bn_seen")
    batches = [pool[(i * size) % len(pool) :][:size] * scale + shift for i in range(max(seen, 10))]
    x = batches[which]  # (B, 30, 30)
    trained, _, _ = normalize.batch_norm_train(x)
    stats = normalize.running_stats(batches[:seen])
    evaluated = normalize.batch_norm_eval(x, stats)
    figure = normalize.histograms_figure(
        [
            (f"train mode: batch {which}'s own statistics", x, trained),
            (f"eval mode: averages of {seen} batches", x, evaluated),
        ]
    )
    st.plotly_chart(figure, **plot("batch norm histograms"))
    st.caption(
        f"Before: {normalize.summary(x)} · after, train mode: {normalize.summary(trained)} · "
        f"after, eval mode: {normalize.summary(evaluated)}"
    )


def dropout_part(pool: np.ndarray) -> None:
    """The dropout histograms: train mode zeroes and rescales, eval mode passes."""
    p = st.slider("Dropout probability p", 0.0, 0.9, 0.5, step=0.05, key="learn_drop_p")
    x = np.maximum(pool[:64], 0.0)  # a batch after ReLU, where dropout usually sits
    dropped, _ = normalize.dropout(x, p, np.random.default_rng(0))
    shown = x[x != 0]  # ReLU's zeros would swamp the histogram: the values it let through
    figure = normalize.histograms_figure(
        [("train mode: kept values × 1/(1 − p)", shown, dropped[dropped != 0]),
         ("eval mode: unchanged", shown, shown)]
    )  # fmt: skip
    st.plotly_chart(figure, **plot("dropout histograms"))
    st.caption(
        f"Histograms of the non-zero values. Mean of all values before {x.mean():.3f}, after "
        f"dropout in train mode {dropped.mean():.3f} (the same on average); "
        f"{(x == 0).mean():.0%} were 0 after ReLU, {(dropped == 0).mean():.0%} after dropout."
    )


def compare_part() -> None:
    """Two tiny trainings on the same data, the same seed: without and with."""
    st.markdown("**Two short runs on the same shapes, with and without**")
    c = st.columns(2)
    what = c[0].radio("Compare", ["batch-norm", "dropout"], horizontal=True, key="learn_bn_what")
    lr = c[1].select_slider("Learning rate", LEARNING_RATES, 1e-2, key="learn_bn_lr")
    base = tiny_runs.TinySetup(train_images=300, label_noise=0.0, lr=float(lr), epochs=20)
    extra = {"batch_norm": True} if what == "batch-norm" else {"dropout": 0.5}
    with st.spinner("Training two tiny networks (a few seconds, once)…"):
        without = tiny(base)
        with_it = tiny(tiny_runs.TinySetup(**(base.__dict__ | extra)))
    label = "batch-norm" if what == "batch-norm" else "dropout 0.5"
    figure = tiny_runs.curves_figure(
        [
            (f"without: val {without.val_acc[-1]:.0%}", without),
            (f"with {label}: val {with_it.val_acc[-1]:.0%}", with_it),
        ]
    )
    st.plotly_chart(figure, **plot(f"{what} comparison"))
    st.caption(
        f"{base.train_images} training images of 24×24 shapes, {base.epochs} epochs, "
        f"{without.val_images} validation images; trained here in "
        f"{without.seconds + with_it.seconds:.1f} s with the lab's training engine (kept)."
    )


def norm_lesson() -> None:
    text, result = lesson_columns()
    with text:
        explain()
    pool = conv_pool("sobel x")
    with result:
        st.markdown("**Batch-norm** on one conv channel of a batch of shapes")
        batch_norm_part(pool)
        st.markdown("**Dropout** on the same channel after ReLU")
        dropout_part(pool)
        compare_part()
    check_questions("norm")
