"""Evaluate's "Curves that explain this run": per-class validation accuracy, the overfitting
gap, the learning-rate schedule and the weight/gradient norms per layer, as tabs under one
anchored heading (`#class-curves`, where the Learn page's link lands). Figures are built by
`cnnlab.run_curves` from the run's config and events; older runs get a figure that says what
they did not record."""

from __future__ import annotations

import streamlit as st

from cnnlab import run_curves
from cnnlab.events import NormsEvent, of_kind
from cnnlab.runs import Run
from cnnlab.runs.history import history_from_events
from pages.ui.common import chart_config
from pages.ui.view_link import landed, scroll_to

ANCHOR = "class-curves"
TABS = ["Per-class accuracy", "Overfitting", "Learning rate", "Weight & gradient norms"]


def curves_section(run: Run, class_names: list[str]) -> None:
    """The section for a trained `run` (its config and events)."""
    if landed("class_curves"):
        scroll_to(ANCHOR)
    st.subheader("Curves that explain this run", anchor=ANCHOR)
    events = run.read_events()[0]
    history = history_from_events(events)
    per_class, gap, schedule, norms = st.tabs(TABS)
    with per_class:
        fig = run_curves.class_accuracy_figure(history.epochs, class_names)
        st.plotly_chart(fig, config=chart_config("per-class accuracy"), key="curves_class")
        st.caption(
            "Validation accuracy of each class after every epoch (the share of its validation "
            "images predicted right). A class that lags behind the others is where to look for "
            "confusions or too few examples."
        )
    with gap:
        fig = run_curves.gap_figure(history.epochs)
        st.plotly_chart(fig, config=chart_config("overfitting gap"), key="curves_gap")
        mark = run_curves.overfit_start(history.epochs)
        st.markdown(f"**{mark.text[0].upper() + mark.text[1:]}.**")
        st.caption(run_curves.OVERFIT_RULE + " The shaded band is the gap between the losses.")
    with schedule:
        _schedule(run, history)
    with norms:
        _norms(of_kind(events, NormsEvent))


def _schedule(run: Run, history) -> None:
    cfg = run.config()
    spe = history.start.steps_per_epoch if history.start else 0
    if not spe:
        st.info("This run has not started training, so it has no schedule yet.")
        return
    steps, lrs = run_curves.lr_schedule(cfg, spe)
    fig = run_curves.schedule_figure(steps, lrs, history.batches)
    st.plotly_chart(fig, config=chart_config("learning rate schedule"), key="curves_lr")
    st.caption(
        f"The **{cfg.train.schedule}** schedule of this run's config (peak {cfg.train.lr:g}, "
        f"{spe} steps per epoch), computed with the training code's own scheduler; the dots are "
        "the rates the run recorded."
    )


def _norms(events: list[NormsEvent]) -> None:
    which = st.segmented_control("Norm of", ["weights", "gradients"], default="weights",
                                 required=True, key="curves_norm")  # fmt: skip
    fig = run_curves.norms_figure(events, "weight" if which == "weights" else "grad")
    st.plotly_chart(fig, config=chart_config(f"{which} norms"), key="curves_norms")
    st.caption(
        "The L2 norm of each layer's parameters (or of their gradients) every few steps "
        "(`watch.norms_every`), log scale: TensorBoard's histograms in one number per layer. "
        "Gradients that shrink towards 0 in early layers mean they barely learn; norms that "
        "grow without bound mean the learning rate is too high."
    )
