"""The Train page's "New run" column: what the next run trains, and the hyperparameter form.

Whatever is on screen when Train is pressed is exactly what the run's config.json holds: the
widgets have fixed keys and get their starting values once per dataset (`seed_form`, from a
link, a recipe or the last run: `pages/ui/share_form.py`), never again while the form is shown,
so nothing typed is ever replaced; the submit reads the widgets and the start they were seeded
from (held in the session), nothing else. A link's or a lesson's locked fields are disabled.
"""

from __future__ import annotations

import errno
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from cnnlab.classroom.lesson import PolicyError
from cnnlab.config import AugmentConfig, RunConfig
from cnnlab.models import InvalidSpecError, check_spec
from cnnlab.optim import OPTIMIZERS, SCHEDULES
from cnnlab.sharelock import Rules
from cnnlab.startconfig import StartConfig, describe_augment, run_config
from cnnlab.text import md_escape
from pages.ui.common import current_dataset, data_label, model_label
from pages.ui.data_augment import augment_links, designed
from pages.ui.lr_finder import lr_finder
from pages.ui.share import lock_caption
from pages.ui.share import rules as share_rules
from pages.ui.share_form import KEYS, offer_long_recipe, remember, seed_form
from pages.ui.submit import submit_run
from pages.ui.train_processes import processes, processes_widget

BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024]
LABELS = {
    "optimizer": "Optimizer", "schedule": "Schedule", "lr": "Learning rate", "weight_decay": "Weight decay",
    "batch_size": "Batch size", "epochs": "Epochs", "label_smoothing": "Label smoothing",
    "augment": "Augmentation", "seed": "Seed", "early_stopping": "Early stopping",
}  # fmt: skip


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


def _number(
    where: DeltaGenerator, rules: Rules, name: str, lo: float, hi: float, **kw: Any
) -> None:
    """A number box for TrainConfig field `name`, bounded by the rules, disabled when locked."""
    if name in rules.hidden:
        return
    kind = type(lo)  # int or float, as the field and its session value
    lo, hi = rules.bounds.get(name, (lo, hi))
    look = dict(disabled=rules.is_locked(name), key=KEYS[name], **kw)
    where.number_input(LABELS[name], kind(lo), kind(hi), **look)  # type: ignore[arg-type]


def form_widgets(start: StartConfig, rules: Rules) -> None:
    """The hyperparameter widgets (values live in session_state under KEYS); locked ones are
    disabled, hidden ones not drawn (their values: `share_form.hold`)."""
    shown = lambda name: name not in rules.hidden  # noqa: E731
    off = lambda name: dict(disabled=rules.is_locked(name), key=KEYS.get(name, "tr_augment"))  # noqa: E731
    left, right = st.columns(2)
    if shown("optimizer"):
        left.selectbox("Optimizer", OPTIMIZERS.names(), **off("optimizer"))
    if shown("schedule"):
        tip = "how the learning rate changes"
        right.selectbox("Schedule", SCHEDULES.names(), help=tip, **off("schedule"))
    _number(left, rules, "lr", 1e-6, 1e6, format="%g", help="peak rate")
    _number(right, rules, "weight_decay", 0.0, 1.0, step=1e-4, format="%g")
    if shown("batch_size"):
        lo, hi = rules.bounds.get("batch_size", (1, 1024))
        sizes = sorted(
            {s for s in BATCH_SIZES if lo <= s <= hi} | {int(st.session_state.tr_batch_size)}
        )
        tip = "images per optimiser step"
        left.selectbox("Batch size", sizes, help=tip, **off("batch_size"))
    _number(right, rules, "epochs", 1, 500)
    if shown("label_smoothing"):
        lo, hi = rules.bounds.get("label_smoothing", (0.0, 0.5))
        st.slider("Label smoothing", float(lo), float(hi), step=0.05, **off("label_smoothing"))
    if shown("augment"):
        tip = "random changes to each training image, different every epoch"
        st.toggle("Augmentation", help=tip, **off("augment"))
        origin = "set on the Data page" if designed(start.config.data) else "this dataset's default"
        st.caption(f"Augmentation ({origin}): **{describe_augment(start.dataset_augment)}**.")
    left, right = st.columns(2)
    _number(left, rules, "seed", 0, 2**31 - 1)
    tip = "stop when the validation loss has not improved for this many epochs (0 = off)"
    _number(right, rules, "early_stopping", 0, 100, help=tip)
    processes_widget()
    lock_caption(rules, list(LABELS), LABELS)


def train_form(dataset_ready: bool, problem: str | None) -> None:
    """The form; on Train, submits exactly what it shows (see module docstring)."""
    rules = share_rules()
    data = st.session_state.data_cfg
    if (
        not rules.locked and rules.model is None and rules.train is None
    ):  # else a lesson or link rules
        offer_long_recipe(data)
    start = seed_form(data, rules)
    with st.form("train_form", border=True):
        st.markdown("**Hyperparameters**")
        origins = {
            "last run": "your last run on this dataset",
            "recipe": "the recipe for this dataset",
        }
        st.caption(f"Starting values: {md_escape(origins.get(start.source, start.source))}")
        form_widgets(start, rules)
        submitted = st.form_submit_button(
            "Train",
            type="primary",
            icon=":material/play_arrow:",
            disabled=not dataset_ready or problem is not None,
            key="train_submit",
            width="stretch",
            shortcut="Ctrl+Enter",  # Cmd+Enter on a Mac; Streamlit shows it on the button
        )
    fields = remember(data) | processes()
    if submitted:
        ss = st.session_state
        augment = start.dataset_augment if ss.tr_augment else AugmentConfig()
        try:
            cfg = run_config(start, model=ss.model_cfg, augment=augment, **fields)
        except ValueError as exc:  # cnnlab.schema.ConfigError: names the field and its range
            st.error(f"These settings cannot be trained: {md_escape(exc)}", icon=":material/error:")
        else:
            submit(cfg)
    augment_links(data)
    lr_finder(start, fields, locked=rules.is_locked("lr"))


def submit(cfg: RunConfig) -> None:
    """Queue `cfg` unless this session submitted the same settings in the last few seconds (the
    manager decides, atomically: a rerun cut short by the next press may not record it); say
    what went wrong."""
    try:
        run_id, repeated = submit_run(cfg)
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
    st.session_state.run_id = run_id
    if repeated:
        st.warning(
            "That press repeated the one before (the same settings within seconds, or pressed "
            "before the page had answered it): the run it started is shown on the right. To "
            "start another one, change a value or wait a few seconds, then press Train.",
            icon=":material/content_copy:",
        )
