"""Tabs 5-6 of the Learn page: gradient descent on a 2-weight loss surface, and the user's own
trained model on the lesson image."""

from __future__ import annotations

import PIL.Image
import streamlit as st

from cnnlab import explain, learn, plots
from pages.ui import run_pick
from pages.ui.lessons import cached, lesson_columns, plot

OUTCOME_BOX = {  # Descent.outcome -> how the page shows it
    "diverged": (st.error, ":material/error:"),
    "converged": (st.success, ":material/check_circle:"),
    "descending": (st.warning, ":material/hourglass_top:"),
}


def learning_lesson() -> None:
    """Tab 5: pick a surface, a learning rate, momentum and steps; see the path and the loss."""
    text, result = lesson_columns()
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
    with controls[1]:
        lr = learning_rate(surface, surface_name)
    momentum = controls[2].slider("Momentum β", 0.0, 0.95, 0.0, step=0.05, key="learn_momentum")
    steps = controls[3].slider("Steps", 5, 100, 30, key="learn_steps")
    descent = learn.gradient_descent(surface, lr, steps, momentum)
    box, icon = OUTCOME_BOX[descent.outcome]
    with result:
        box(learn.outcome_message(surface, descent), icon=icon)
    path_col, curve_col = result.columns([3, 2])
    path_col.plotly_chart(
        cached(learn.descent_figure)(surface, descent), **plot("gradient descent path")
    )
    curve_col.plotly_chart(cached(learn.loss_curve)(descent), **plot("gradient descent loss"))


def learning_rate(surface: learn.Surface, surface_name: str) -> float:
    """A preset learning rate for `surface`, or the user's own from a slider."""
    presets = learn.lr_presets(surface)
    choice = st.radio(
        "Learning rate",
        [*presets, "your own"],
        index=1,
        key="learn_lr_preset",
        horizontal=True,
        format_func=lambda p: f"{p} ({presets[p]})" if p in presets else p,
    )
    if choice in presets:
        return presets[choice]
    return st.slider(
        "η",
        0.001,
        round(1.5 * surface.max_stable_lr, 3),
        presets["about right"],
        step=0.001,
        format="%.3f",
        key=f"learn_lr_{surface_name}",
    )


def your_model_lesson(picture: PIL.Image.Image) -> None:
    """Tab 6: a trained run's first-layer kernels and first feature maps on `picture`; without a
    trained run, how to get one."""
    text, result = lesson_columns()
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
            "pages/inspect.py",
            label="Inspect: inside a trained model",
            icon=":material/visibility:",
        )
    with result:
        if not run_pick.runs_with_weights():
            st.info(
                "No trained model yet. One click on **Quick start** on the Home page trains a "
                "small CNN on the shapes in a few seconds; come back here to see what its "
                "first layers make of this image.",
                icon=":material/school:",
            )
            st.page_link("pages/home.py", label="Home: quick start", icon=":material/home:")
            return
        loaded = run_pick.pick_trained_run("learn_run")
        view = learn.first_feature_maps(loaded.model, loaded.preprocess, picture)
        first, second = st.columns([1, 3])
        first.plotly_chart(
            plots.image_grid(view.input[None], ["model input"], upscale_to=128),
            **plot("model input"),
        )
        kernels = explain.first_layer_filters(loaded.model)  # (F, C, k, k)
        second.plotly_chart(
            plots.filter_grid(kernels, max_filters=16, cols=8), **plot("first layer filters")
        )
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
            st.plotly_chart(
                plots.feature_map_grid(maps, max_maps=16, cols=8), **plot("feature maps")
            )
