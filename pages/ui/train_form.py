"""The Train page's "New run" column: what the next run trains, and the hyperparameter form.

Whatever is on screen when Train is pressed is exactly what the run's config.json holds: the
widgets have fixed keys and get their starting values once per dataset (`seed_form`), never
again while the form is shown, so nothing typed is ever replaced; the submit reads the widgets
and the start they were seeded from (held in the session), nothing else.
"""

from __future__ import annotations

import dataclasses
import errno
import time

import streamlit as st

from cnnlab.classroom.lesson import PolicyError
from cnnlab.config import AugmentConfig, DataConfig, RunConfig
from cnnlab.models import InvalidSpecError, check_spec
from cnnlab.optim import OPTIMIZERS, SCHEDULES
from cnnlab.startconfig import (
    StartConfig,
    config_key,
    describe_augment,
    is_repeat,
    run_config,
    start_config,
)
from cnnlab.text import md_escape
from pages.ui.common import current_dataset, data_label, job_manager, model_label
from pages.ui.data_augment import augment_links, design, designed, last_run_config
from pages.ui.identity import submit_rules

BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024]
# TrainConfig field -> widget key (fixed: a key that changes drops what was typed)
KEYS = {
    name: f"tr_{name}"
    for name in ("optimizer", "schedule", "lr", "weight_decay", "batch_size", "epochs",
                 "label_smoothing", "seed", "early_stopping")
}  # fmt: skip
KINDS = {"lr": float, "weight_decay": float, "label_smoothing": float}  # else int or str


def setup_summary() -> tuple[bool, str | None]:
    """What the next run trains: dataset, model, split sizes. Returns (dataset ok, model problem)."""
    st.markdown(
        f":material/photo_library: **{md_escape(data_label(st.session_state.data_cfg))}**  \n"
        f":material/account_tree: **{md_escape(model_label(st.session_state.model_cfg))}**"
    )
    dataset = current_dataset(stop=False)
    if dataset is None:
        return False, None
    c, h, w = dataset.input_shape
    st.caption(
        f"{len(dataset.train):,} train · {len(dataset.val):,} validation · "
        f"{len(dataset.test):,} test images · {dataset.num_classes} classes · "
        f"{c}×{h}×{w} input"
    )
    problem = model_problem(dataset.input_shape, dataset.num_classes)
    if problem:
        st.error(
            f"The custom network does not fit this data: {md_escape(problem)}",
            icon=":material/error:",
        )
        st.page_link(
            "pages/model.py", label="Fix it on the Model page", icon=":material/account_tree:"
        )
    return True, problem


def model_problem(input_shape: tuple[int, int, int], num_classes: int) -> str | None:
    cfg = st.session_state.model_cfg
    if cfg.name != "custom":
        return None
    try:
        check_spec(cfg.spec, input_shape, num_classes=num_classes)
    except (InvalidSpecError, ValueError) as exc:
        return str(exc)
    return None


def seed_form(data: DataConfig) -> StartConfig:
    """The start the form shows; the widgets get its values only when the dataset changed or
    they are not in the session (first visit, or Streamlit dropped them after another page).
    A design changed on the Data page since is taken over, switched on (it is what was asked)."""
    ss = st.session_state
    start = ss.get("tr_start")
    if (
        start is not None
        and start.config.data == data
        and all(k in ss for k in [*KEYS.values(), "tr_augment"])
    ):
        current = design(data)
        if current != start.dataset_augment:
            start = ss.tr_start = dataclasses.replace(start, dataset_augment=current)
            ss.tr_augment = current != AugmentConfig()
        return start
    start = start_config(data, last_run_config(), designed(data))
    tc = start.config.train
    for name, key in KEYS.items():
        ss[key] = KINDS.get(name, type(getattr(tc, name)))(getattr(tc, name))
    ss.tr_lr = min(max(ss.tr_lr, 1e-6), 1e6)
    ss.tr_augment = start.config.augment != AugmentConfig()
    ss.tr_start = start
    return start


def form_widgets(start: StartConfig) -> None:
    """The hyperparameter widgets (values live in session_state under KEYS)."""
    left, right = st.columns(2)
    left.selectbox("Optimizer", OPTIMIZERS.names(), key="tr_optimizer")
    right.selectbox(
        "Schedule", SCHEDULES.names(), key="tr_schedule", help="how the learning rate changes"
    )
    left.number_input("Learning rate", 1e-6, 1e6, format="%g", key="tr_lr", help="peak rate")
    right.number_input("Weight decay", 0.0, 1.0, step=1e-4, format="%g", key="tr_weight_decay")
    sizes = sorted(set(BATCH_SIZES) | {int(st.session_state.tr_batch_size)})
    left.selectbox("Batch size", sizes, key="tr_batch_size", help="images per optimiser step")
    right.number_input("Epochs", 1, 500, key="tr_epochs")
    st.slider("Label smoothing", 0.0, 0.5, step=0.05, key="tr_label_smoothing")
    st.toggle(
        "Augmentation",
        key="tr_augment",
        help="random changes to each training image, different every epoch",
    )
    origin = "set on the Data page" if designed(start.config.data) else "this dataset's default"
    st.caption(f"Augmentation ({origin}): **{describe_augment(start.dataset_augment)}**.")
    left, right = st.columns(2)
    left.number_input("Seed", 0, 2**31 - 1, key="tr_seed")
    right.number_input(
        "Early stopping",
        0,
        100,
        key="tr_early_stopping",
        help="stop when the validation loss has not improved for this many epochs (0 = off)",
    )


def train_form(dataset_ready: bool, problem: str | None) -> None:
    """The form; on Train, submits exactly what it shows (see module docstring)."""
    start = seed_form(st.session_state.data_cfg)
    with st.form("train_form", border=True):
        st.markdown("**Hyperparameters**")
        origin = "your last run on this dataset" if start.source == "last run" else "the recipe"
        st.caption(
            f"Starting values: {origin}" + (" for this dataset" * (start.source == "recipe"))
        )
        form_widgets(start)
        submitted = st.form_submit_button(
            "Train",
            type="primary",
            icon=":material/play_arrow:",
            disabled=not dataset_ready or problem is not None,
            key="train_submit",
            width="stretch",
            shortcut="Ctrl+Enter",  # Cmd+Enter on a Mac; Streamlit shows it on the button
        )
    if submitted:
        ss = st.session_state
        fields = {name: KINDS.get(name, lambda v: v)(ss[key]) for name, key in KEYS.items()}
        augment = start.dataset_augment if ss.tr_augment else AugmentConfig()
        try:
            cfg = run_config(start, model=ss.model_cfg, augment=augment, **fields)
        except ValueError as exc:  # cnnlab.schema.ConfigError: names the field and its range
            st.error(f"These settings cannot be trained: {md_escape(exc)}", icon=":material/error:")
        else:
            submit(cfg)
    augment_links(st.session_state.data_cfg)


def submit(cfg: RunConfig) -> None:
    """Queue `cfg` unless it repeats a submit of the last few seconds; say what went wrong."""
    ss, now = st.session_state, time.time()
    if is_repeat(cfg, ss.get("tr_last_submit"), now):
        st.warning(
            "A run with these settings just started; it is shown on the right. Change a value "
            "or wait a few seconds to start another one.",
            icon=":material/content_copy:",
        )
        return
    try:
        run_id = job_manager().submit(cfg, **submit_rules())  # owner; a student's lesson rules
    except PolicyError as exc:  # the lesson or the class limits refuse it: say which rule
        st.error(md_escape(exc), icon=":material/block:")
        return
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            st.error(
                "The run could not be created: the disk is full: free space or delete old runs "
                "(on the Runs page), then press Train again.",
                icon=":material/hard_drive:",
            )
        else:
            st.error(f"The run could not be created: {md_escape(exc)}", icon=":material/error:")
        return
    ss.tr_last_submit = (config_key(cfg), now)
    ss.run_id = run_id
