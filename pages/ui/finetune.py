"""The Model page's "Start from" box (scratch / ImageNet weights / a saved run, which blocks stay
frozen, the learning-rate scale of the pre-trained weights) and the Train page's line about it.

Everything chosen here goes into the `ModelConfig` the page's "Use this model" stores, so a run's
config.json says how it was made (`cnnlab.finetune` does the work when the run trains)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from cnnlab import finetune
from cnnlab.config import ModelConfig, Preprocess
from cnnlab.data import ImageDataset
from cnnlab.models import MODELS, build_model
from cnnlab.runs import list_runs
from cnnlab.text import md_escape
from pages.ui.run_pick import run_label

SCRATCH, IMAGENET, SAVED = "Scratch", "ImageNet weights", "A saved run"
LR_SCALES = [1.0, 0.5, 0.3, 0.1, 0.03, 0.01]  # multipliers offered for the pre-trained weights
RECENT_RUNS = 30  # saved runs offered, newest first


@st.cache_resource(max_entries=16, show_spinner=False)
def _freeze_choices(cfg: ModelConfig, preprocess: Preprocess, num_classes: int) -> list[str]:
    """The network's freeze_up_to choices (built once per network; only its names are read)."""
    plain = replace(cfg, pretrained=False, init_from="", freeze_up_to="")
    return finetune.freeze_choices(build_model(plain, preprocess, num_classes).net)


def _block_label(name: str) -> str:
    if not name:
        return "nothing (every layer learns)"
    return "everything but the head (train the head only)" if name == finetune.HEAD_ONLY else name


def _start_choice(cfg: ModelConfig, current: ModelConfig) -> str:
    options = [SCRATCH] + [IMAGENET] * MODELS.get(cfg.name).imagenet_weights + [SAVED]
    now = SAVED if current.init_from else IMAGENET if current.pretrained else SCRATCH
    st.session_state.setdefault("ft_start", now)
    if st.session_state.ft_start not in options:  # e.g. ImageNet, then a preset without it
        st.session_state.ft_start = SCRATCH
    tip = "ImageNet: torchvision models only, downloaded once (about 10-45 MB) into the torch cache"
    return st.segmented_control("Start from", options, key="ft_start", required=True, help=tip)


def _saved_run(cfg: ModelConfig, current: ModelConfig, ds: ImageDataset) -> ModelConfig | None:
    runs = {r.run_id: r for r in list_runs(with_weights=True)[:RECENT_RUNS]}
    if not runs:
        st.info("No saved run with weights yet: train one first.", icon=":material/info:")
        return None
    ids = list(runs)
    start = ids.index(current.init_from) if current.init_from in runs else 0
    run_id = st.selectbox(
        "Saved run", ids, start, format_func=lambda r: run_label(runs[r]), key="ft_run"
    )
    try:
        chosen = finetune.start_from_run(run_id, cfg)
        notes = finetune.preview(run_id, ds.class_names, ds.input_shape)
    except (OSError, ValueError, KeyError) as exc:
        st.warning(f"This run cannot be started from ({md_escape(exc)}).", icon=":material/error:")
        return None
    title = MODELS.get(chosen.name).title if chosen.name in MODELS else chosen.name
    st.caption(f"Uses that run's network ({md_escape(title)}) and its best weights.")
    for note in notes:
        st.caption(f":material/info: {md_escape(note)[0].upper()}{md_escape(note)[1:]}.")
    return chosen


def start_from(cfg: ModelConfig, current: ModelConfig, ds: ImageDataset) -> ModelConfig:
    """The box under the network choice: `cfg` with its start and freeze settings."""
    with st.container(border=True):
        source = _start_choice(cfg, current)
        out = replace(cfg, pretrained=source == IMAGENET, init_from="")
        if source == IMAGENET:
            st.caption(
                "Read from the torch cache; downloaded there first when missing (progress on the "
                "Train page). Offline without the file the run fails and names the file to copy."
            )
        elif source == SAVED:
            out = _saved_run(cfg, current, ds) or replace(out, pretrained=False)
        pre = out.pretrained or bool(out.init_from)
        try:
            choices = _freeze_choices(out, ds.preprocess, ds.num_classes)
        except ValueError:  # a custom network that does not fit: the editor says why
            choices = [""]
        st.session_state.setdefault("ft_freeze", current.freeze_up_to)
        if st.session_state.ft_freeze not in choices:
            st.session_state.ft_freeze = ""
        left, right = st.columns(2)
        tip = "frozen blocks keep their weights (and batch-norm statistics) exactly"
        frozen = left.selectbox(
            "Freeze up to", choices, format_func=_block_label, key="ft_freeze", help=tip
        )
        st.session_state.setdefault("ft_lr_scale", current.pretrained_lr_scale)
        if st.session_state.ft_lr_scale not in LR_SCALES:
            st.session_state.ft_lr_scale = 1.0
        scale = right.select_slider(
            "Learning rate of pre-trained weights",
            LR_SCALES,
            key="ft_lr_scale",
            format_func=lambda v: f"×{v:g}",
            disabled=not pre,
            help="a multiplier of the run's learning rate for the weights that came pre-trained",
        )
        if frozen and not pre:
            st.caption(":material/warning: Frozen blocks keep their random initial weights.")
    return replace(out, freeze_up_to=frozen, pretrained_lr_scale=scale if pre else 1.0)


def start_caption(cfg: ModelConfig) -> None:
    """The Train page's line on how the next run starts (nothing when from scratch)."""
    text = finetune.describe(cfg)
    if text:
        st.caption(
            f":material/model_training: {md_escape(text[0].upper() + text[1:])} (Model page)."
        )
