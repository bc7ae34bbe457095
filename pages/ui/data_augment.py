"""The augmentation design: one AugmentConfig per dataset, set on the Data page, trained by Train.

The design lives in `st.session_state.augment_designs` (design key -> AugmentConfig, see
`cnnlab.startconfig.design_key`); a dataset without one starts from `start_augment` (the last
run's, else the recipe's). The Data page's controls write it on every change; the Train form
reads it (`design`) and can reset it (`reset_design`).
"""

from __future__ import annotations

import dataclasses

import plotly.graph_objects as go
import streamlit as st

from cnnlab import gallery
from cnnlab.config import AugmentConfig, DataConfig, RunConfig
from cnnlab.runs import RunNotFound, get_run
from cnnlab.startconfig import describe_augment, design_key, recipe_augment, start_augment
from pages.ui import common
from pages.ui.charts import chart_config

CHART = chart_config("augmentation preview")
# control -> (AugmentConfig field, label, min, max, step); the hflip checkbox is separate
SLIDERS = {
    "crop": ("crop_padding", "Random crop: padding (px)", 0, 8, 1),
    "rot": ("rotate_degrees", "Rotation (± degrees)", 0, 45, 1),
    "shift": ("translate", "Shift (± share of the side)", 0.0, 0.3, 0.02),
    "jitter": ("color_jitter", "Colour jitter (strength)", 0.0, 1.0, 0.05),
    "erase": ("erasing", "Random erasing (probability)", 0.0, 1.0, 0.05),
}


def last_run_config() -> RunConfig | None:
    """The config of the run this session follows (None if none or unreadable)."""
    try:
        return get_run(st.session_state.run_id).config() if st.session_state.run_id else None
    except (RunNotFound, ValueError, TypeError):
        return None


def design(data: DataConfig) -> AugmentConfig:
    """The augmentation designed for `data` in this session, else the one it starts from."""
    saved = st.session_state.augment_designs.get(design_key(data))
    return saved if saved is not None else start_augment(data, last_run_config())


def designed(data: DataConfig) -> AugmentConfig | None:
    """The design the user made for `data` on the Data page (None = not touched yet)."""
    return st.session_state.augment_designs.get(design_key(data))


def _store(data: DataConfig, augment: AugmentConfig) -> None:
    designs = st.session_state.augment_designs
    if designs.get(design_key(data)) != augment:  # a new dict: session values are not mutated
        st.session_state.augment_designs = {**designs, design_key(data): augment}


def reset_design(data: DataConfig) -> bool:
    """Set `data`'s design back to the recipe's; returns whether the recipe switches it on.
    The Data page's controls of `data` are dropped so they show the reset values next time."""
    augment, on = recipe_augment(data)
    _store(data, augment)
    prefix = f"aug.{design_key(data)}."
    for key in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[key]
    return on


@st.cache_data(show_spinner=False, max_entries=64)
def augment_figure(cfg: DataConfig, augment: AugmentConfig) -> go.Figure:
    return gallery.tiles_figure(gallery.augment_examples(common.dataset_for(cfg).train, augment))


def _seed_controls(prefix: str, start: AugmentConfig) -> None:
    """Give the controls their values from `start` when they are not in the session."""
    ss = st.session_state
    for name, (field, _label, low, *_range) in SLIDERS.items():
        if prefix + name not in ss:  # the slider's own type: an int slider refuses 8.0
            ss[prefix + name] = type(low)(getattr(start, field))
    if prefix + "flip" not in ss:
        ss[prefix + "flip"] = start.hflip


@st.fragment
def augmentation_preview(cfg: DataConfig, hflip_ok: bool) -> None:
    """Controls and preview grid; only this part reruns when a control moves. What is set here
    is the design the Train form trains (kept per dataset in the session)."""
    prefix = f"aug.{design_key(cfg)}."  # each dataset: its own controls and design
    _seed_controls(prefix, design(cfg))
    flip_help = None if hflip_ok else "A mirrored image may belong to another class (digits)."
    controls, preview = st.columns([1, 3], gap="large")
    with controls:
        values = {}
        for name, (field, label, low, high, step) in SLIDERS.items():
            value = st.slider(label, low, high, step=step, key=prefix + name)
            values[field] = type(getattr(AugmentConfig(), field))(value)  # the config's type
            if name == "crop":
                values["hflip"] = st.checkbox(
                    "Horizontal flip", key=prefix + "flip", help=flip_help
                )
        augment = AugmentConfig(**values)
        _store(cfg, augment)
        if augment.hflip and not hflip_ok:
            st.warning("Flipping may change the class of these images.", icon=":material/warning:")
        if st.button("Reset to the recipe", key=prefix + "reset", icon=":material/restart_alt:"):
            reset_design(cfg)
            st.rerun(scope="fragment")
    with preview:
        st.plotly_chart(augment_figure(cfg, augment), config=CHART, key="augment_grid")
        st.caption(
            "Each row: an image, then random variants the network could see instead. "
            f"**Train uses this augmentation**: {describe_augment(augment)} "
            "(the Train form can switch it off)."
        )


def _reset_augment(data: DataConfig) -> None:
    """on_click of the Train form's "Reset to the recipe": the recipe's augmentation, switched
    on or off as the recipe has it (`tr_start` and `tr_augment` belong to pages/ui/train_form.py)."""
    ss = st.session_state
    ss.tr_augment = reset_design(data)
    ss.tr_start = dataclasses.replace(ss.tr_start, dataset_augment=design(data))


def augment_links(data: DataConfig) -> None:
    """Under the Train form: where the augmentation is designed, and a way back to the recipe's."""
    st.page_link(
        "pages/data.py", label="Edit the augmentation on the Data page", icon=":material/tune:"
    )
    st.button(
        "Reset the augmentation to the recipe",
        key="tr_augment_reset",
        icon=":material/restart_alt:",
        on_click=_reset_augment,
        args=(data,),
        help="the augmentation this dataset's recipe trains with",
    )
