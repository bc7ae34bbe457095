"""Where the Train form's starting values come from, and what holds them there.

In order: a run's full recipe (`st.session_state.recipe_run`, the leaderboard's "start from this
recipe"), a link's values (`share_pending`, put there by `pages/ui/share.py`), the values this
session last had on this dataset (`share_form`: kept when Streamlit drops the widgets after
another page), else `cnnlab.startconfig.start_config` (the last run, else the recipe).
Then the rules hold: locked fields keep their link's or lesson's value, editable ones stay within
their range, and a student's run starts from the lesson's hyperparameters (`Rules.train`), so
the fields the form does not show match the lesson too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from cnnlab.config import AugmentConfig, DataConfig
from cnnlab.recipes import default_run_config, recipe_names
from cnnlab.runs import RunNotFound, get_run
from cnnlab.sharelink import AUGMENT
from cnnlab.sharelock import Rules
from cnnlab.startconfig import StartConfig, design_key, start_config
from cnnlab.text import md_escape
from pages.ui.data_augment import design, designed, last_run_config

# TrainConfig field -> widget key (fixed: a key that changes drops what was typed)
KEYS = {
    name: f"tr_{name}"
    for name in ("optimizer", "schedule", "lr", "weight_decay", "batch_size", "epochs",
                 "label_smoothing", "seed", "early_stopping")
}  # fmt: skip
KINDS = {"lr": float, "weight_decay": float, "label_smoothing": float}  # else int or str


def take_recipe() -> None:
    """Make the run `recipe_run` names the session's dataset, model and the form's start
    (its full config), then forget it; a run that cannot be read is said and skipped."""
    ss = st.session_state
    run_id = ss.pop("recipe_run", None)
    if not run_id:
        return
    try:
        cfg = get_run(run_id).config()
    except (RunNotFound, OSError, ValueError, TypeError, KeyError) as exc:
        st.warning(f"Run {md_escape(run_id)} cannot be used as a recipe: {md_escape(exc)}")
        return
    ss.data_cfg, ss.model_cfg = cfg.data, cfg.model
    if cfg.model.name == "custom":
        ss.custom_spec = cfg.model.spec
    ss.augment_designs = {**ss.augment_designs, design_key(cfg.data): cfg.augment}
    fields = {name: getattr(cfg.train, name) for name in KEYS}
    ss.share_pending = {"train": fields, AUGMENT: cfg.augment != AugmentConfig(), "base": cfg}
    ss.share_form = None
    ss.tr_origin = f"run {run_id}"


def offer_long_recipe(data: DataConfig) -> None:
    """Where the dataset has a long recipe (CIFAR-10's 90%), a button that starts the form and
    the Model page from it."""
    if "long" not in recipe_names(data.name):
        return
    cfg = default_run_config(data.name, "long")
    epochs, model = cfg.train.epochs, cfg.model
    views = [n for n, on in (("mirror", model.flip_tta), ("1-pixel shifts", model.shift_tta)) if on]
    at_test = f", {' and '.join(views)} at test time" if views else ""
    st.button(  # the label fits the form's column; the details are in the tooltip
        "Start from the long recipe",
        on_click=_take_long,
        args=(data,),
        key="tr_long_recipe",
        icon=":material/timer:",
        help=f"more accuracy for more time: {model.name} at width {model.width:g} for {epochs} "
        f"epochs{at_test} (CIFAR-10: 90% after about "
        "15 minutes of training on 2 CPU cores; the default reaches 85% in 3)",
    )


def _take_long(data: DataConfig) -> None:
    """Button callback: the long recipe becomes the network and the form's start."""
    ss, cfg = st.session_state, default_run_config(data.name, "long")
    ss.model_cfg = cfg.model
    ss.augment_designs = {**ss.get("augment_designs", {}), design_key(data): cfg.augment}
    fields = {name: getattr(cfg.train, name) for name in KEYS}
    ss.share_pending = {"train": fields, AUGMENT: True, "base": cfg}
    ss.share_form = None
    ss.tr_origin = "the long recipe for this dataset"


def _pending(data: DataConfig) -> tuple[StartConfig, bool] | None:
    """(the start, Augmentation on?) a recipe, a link or this session's last values ask for."""
    ss = st.session_state
    pending = ss.pop("share_pending", None)
    origin = ss.pop("tr_origin", "the link")
    if pending is None:
        form = ss.get("share_form")
        if not form or form["data"] != data or all(k in ss for k in KEYS.values()):
            return None
        pending, origin = form, "your last values"
    base = pending.get("base") or default_run_config(data.name)
    train = dataclasses.replace(base.train, **pending["train"])
    config = dataclasses.replace(base, data=data, train=train)
    augment = pending.get(AUGMENT)
    on = augment if augment is not None else config.augment != AugmentConfig()
    return StartConfig(config, origin, design(data)), on


def _lesson_base(start: StartConfig, rules: Rules) -> StartConfig:
    """A student's start: the lesson's hyperparameters under the form's own fields."""
    if rules.train is None:
        return start
    shown = {name: getattr(start.config.train, name) for name in KEYS}
    train = dataclasses.replace(rules.train, **shown)
    if train == start.config.train:
        return start
    return dataclasses.replace(start, config=dataclasses.replace(start.config, train=train))


def _seed_widgets(start: StartConfig, augment_on: bool) -> None:
    ss, tc = st.session_state, start.config.train
    for name, key in KEYS.items():
        ss[key] = KINDS.get(name, type(getattr(tc, name)))(getattr(tc, name))
    ss.tr_lr = min(max(ss.tr_lr, 1e-6), 1e6)
    ss.tr_augment = augment_on


def hold(rules: Rules) -> None:
    """Locked fields take their fixed values; bounded ones are moved into their range."""
    ss = st.session_state
    for name, value in rules.values.items():
        key = KEYS.get(name, "tr_augment" if name == AUGMENT else None)
        if key is not None:
            ss[key] = KINDS.get(name, type(value))(value)
    for name in rules.bounds:
        ss[KEYS[name]] = rules.clamp(name, ss[KEYS[name]])


def seed_form(data: DataConfig, rules: Rules) -> StartConfig:
    """The start the form shows; the widgets get its values only when something asks for a new
    start (see the module docstring), the dataset changed or they are not in the session.
    A design changed on the Data page since is taken over, switched on (it is what was asked)."""
    ss = st.session_state
    start = ss.get("tr_start")
    asked = _pending(data)
    visible = [key for name, key in KEYS.items() if name not in rules.hidden]
    if asked is not None:
        start, on = asked
        _seed_widgets(start, on)
    elif start is None or start.config.data != data or not all(k in ss for k in visible):
        start = start_config(data, last_run_config(), designed(data))
        if rules.train is not None and start.source == "recipe":  # a student's first run
            lesson = dataclasses.replace(start.config, train=rules.train)  # starts at the lesson's
            start = dataclasses.replace(start, config=lesson, source="the lesson")
        _seed_widgets(start, start.config.augment != AugmentConfig())
    elif (current := design(data)) != start.dataset_augment:
        start = dataclasses.replace(start, dataset_augment=current)
        ss.tr_augment = current != AugmentConfig()
    ss.tr_start = start = _lesson_base(start, rules)
    hold(rules)
    return start


def remember(data: DataConfig) -> dict[str, Any]:
    """The form's values now (kept in the session and in the URL); returns the fields."""
    ss = st.session_state
    fields = {name: KINDS.get(name, lambda v: v)(ss[key]) for name, key in KEYS.items()}
    ss.share_form = {"data": data, "train": fields, AUGMENT: bool(ss.tr_augment)}
    return fields
