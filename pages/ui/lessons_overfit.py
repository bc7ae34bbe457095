"""Tab 9 of the Learn page: overfitting on few shapes with noisy labels, and the knobs that close
the gap (more images, augmentation, weight decay, early stopping), each a tiny training."""

from __future__ import annotations

import dataclasses

import streamlit as st

from cnnlab.learn import tiny_runs
from pages.ui.lessons import lesson_columns, plot, see_in_lab
from pages.ui.lessons_norm import tiny
from pages.ui.lessons_quiz import check_questions

BASELINE = tiny_runs.TinySetup(train_images=150, label_noise=0.3)  # overfits clearly
IMAGES = [75, 150, 300, 600]
NOISE = [0.0, 0.15, 0.3, 0.45]
DECAY = [0.0, 0.5, 2.0, 5.0]  # AdamW, strong: a run of 150 steps needs it large to show
PATIENCE = [0, 3, 5, 10]


def explain() -> None:
    st.subheader("Overfitting and generalisation")
    st.markdown(
        "With few images a network can learn each one by heart, **wrong labels included**: "
        "training accuracy climbs to 100 % while validation accuracy, on images it never "
        "saw, stalls. The grey area between the curves is the **gap**; the validation loss "
        "turning upwards is the moment it starts memorising."
    )
    st.markdown(
        "What helps: **more images**; **augmentation** (each epoch shows new variants, so "
        "there is nothing fixed to memorise); **weight decay** (pulls weights towards 0, "
        "favouring simple solutions); **early stopping** (keep the weights from before the "
        "validation loss rose)."
    )
    see_in_lab("class_curves", "report")


def knobs() -> tuple[tiny_runs.TinySetup, int]:
    """The student's setup (the baseline with their changes) and the early-stopping patience."""
    c = st.columns(3)
    images = c[0].select_slider(
        "Training images", IMAGES, BASELINE.train_images, key="learn_of_images"
    )
    noise = c[1].select_slider(
        "Label noise", NOISE, BASELINE.label_noise, key="learn_of_noise",
        format_func=lambda v: f"{v:.0%}",
    )  # fmt: skip
    decay = c[2].select_slider("Weight decay", DECAY, 0.0, key="learn_of_decay")
    c = st.columns(2)
    augment = c[0].toggle("Augmentation (crops, flips, rotations)", key="learn_of_augment")
    patience = c[1].select_slider(
        "Early stopping: patience", PATIENCE, 0, key="learn_of_patience",
        format_func=lambda v: f"{v} epochs" if v else "off",
    )  # fmt: skip
    setup = dataclasses.replace(
        BASELINE, train_images=int(images), label_noise=float(noise),
        weight_decay=float(decay), augment=bool(augment),
    )  # fmt: skip
    return setup, int(patience)


def overfit_lesson() -> None:
    text, result = lesson_columns()
    with text:
        explain()
    with result:
        setup, patience = knobs()
        with st.spinner("Training tiny networks (a few seconds, once per setting)…"):
            base, yours = tiny(BASELINE), tiny(setup)
        stop, kept = tiny_runs.early_stop(yours.val_loss, patience)
        panels = [
            (f"baseline: {BASELINE.train_images} images, 30 % noise", base),
            ("yours" if setup != BASELINE else "yours (change a knob above)", yours),
        ]
        st.plotly_chart(tiny_runs.curves_figure(panels), **plot("overfitting accuracy"))
        st.plotly_chart(
            tiny_runs.curves_figure(panels, "loss", stop if patience else None),
            **plot("overfitting loss"),
        )
        cols = st.columns(3)
        cols[0].metric("Gap, baseline", f"{base.final_gap:.0%}", help="train − val accuracy")
        change = f"{yours.final_gap - base.final_gap:+.0%}" if setup != BASELINE else None
        cols[1].metric(
            "Gap, yours", f"{yours.final_gap:.0%}", change, delta_color="inverse",
            help="train − validation accuracy at the last epoch",
        )  # fmt: skip
        if patience:
            cols[2].metric(
                "Early stopping keeps", f"epoch {kept}", f"val {yours.val_acc[kept - 1]:.0%}",
                delta_color="off", help=f"stops after epoch {stop} (dashed line)",
            )  # fmt: skip
        else:
            cols[2].metric("Validation accuracy, yours", f"{yours.val_acc[-1]:.0%}")
        st.caption(
            f"Each setting is a real training ({BASELINE.epochs} epochs, 24×24 shapes, "
            f"{yours.val_images} clean validation images) with the lab's engine, run on "
            "demand on one core and kept: the first visit of a setting takes a few seconds."
        )
    check_questions("overfit")
