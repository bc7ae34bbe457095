"""The teacher's lesson preset editor: what the class trains, what students may change, and the
class limits; "Start lesson" puts it in force (`save_lesson`), "End lesson" lifts it.

Widgets start from the lesson in force, so reopening the page shows what students see now.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from cnnlab.classroom.lesson import ClassLimits, FieldRange, Lesson, save_lesson
from cnnlab.config import DataConfig, ModelConfig, TrainConfig, to_dict
from cnnlab.data import DATASETS
from cnnlab.models import MODELS
from cnnlab.optim import OPTIMIZERS, SCHEDULES
from cnnlab.schema import ConfigError, build
from cnnlab.text import md_escape
from pages.ui.common import data_label, model_label
from pages.ui.identity import classroom_settings

CHOOSE, MINE = "__choose__", "__mine__"  # "students choose", "what I have selected now"
NUMBERS = {  # TrainConfig field -> (label, format, default range when first made editable)
    "lr": ("Learning rate", "%g", (1e-4, 0.1)),
    "epochs": ("Epochs", "%d", (1, 10)),
    "batch_size": ("Batch size", "%d", (16, 512)),
    "weight_decay": ("Weight decay", "%g", (0.0, 0.01)),
    "momentum": ("Momentum", "%g", (0.0, 0.99)),
    "label_smoothing": ("Label smoothing", "%g", (0.0, 0.3)),
}
STEPS = {"lr": 1e-4, "weight_decay": 1e-4, "momentum": 0.01, "label_smoothing": 0.05}
CHOICES = {"optimizer": "Optimizer", "schedule": "Schedule"}  # any registered value allowed
PAGES = {  # url path -> page title (the app's navigation)
    "data": "Data", "model": "Model", "train": "Train", "runs": "Runs", "evaluate": "Evaluate",
    "inspect": "Inspect", "classify": "Classify", "learn": "Learn", "leaderboard": "Leaderboard",
    "make-dataset": "Make a dataset",
}  # fmt: skip


def _pick_data(lesson: Lesson) -> DataConfig | None:
    mine: DataConfig = st.session_state.data_cfg
    options = [CHOOSE, MINE] + [n for n in DATASETS if n != "folder"]
    labels = {CHOOSE: "Students choose", MINE: f"My current dataset: {data_label(mine)}"}
    current = CHOOSE if lesson.data is None else lesson.data.name
    pick = st.selectbox(
        "Dataset", options, index=options.index(current) if current in options else 1,
        format_func=lambda n: labels.get(n) or DATASETS.get(n).title, key="tl_data",
    )  # fmt: skip
    if pick == CHOOSE:
        return None
    if pick == MINE:
        return mine
    return lesson.data if lesson.data is not None and lesson.data.name == pick else DataConfig(pick)


def _pick_model(lesson: Lesson) -> ModelConfig | None:
    mine: ModelConfig = st.session_state.model_cfg
    options = [CHOOSE, MINE] + [n for n in MODELS if n != "custom"]
    labels = {CHOOSE: "Students choose", MINE: f"My current network: {model_label(mine)}"}
    current = CHOOSE if lesson.model is None else lesson.model.name
    pick = st.selectbox(
        "Model", options, index=options.index(current) if current in options else 1,
        format_func=lambda n: labels.get(n) or MODELS.get(n).title, key="tl_model",
        help="a custom network is the one on your Model page now (choose 'My current network')",
    )  # fmt: skip
    if pick == CHOOSE:
        return None
    if pick == MINE:
        return mine
    return (
        lesson.model
        if lesson.model is not None and lesson.model.name == pick
        else ModelConfig(pick)
    )


def _train_fields(base: TrainConfig) -> TrainConfig:
    """The starting hyperparameters (the form students open with)."""
    values: dict[str, object] = {}
    cols = st.columns(4)
    for i, (name, (label, fmt, _)) in enumerate(NUMBERS.items()):
        value = getattr(base, name)
        step = 1 if isinstance(value, int) else STEPS.get(name)
        values[name] = cols[i % 4].number_input(
            label, value=value, step=step, format=fmt, min_value=type(value)(0), key=f"tl_{name}"
        )
    for j, (name, label) in enumerate(CHOICES.items(), start=len(NUMBERS)):
        registry = OPTIMIZERS if name == "optimizer" else SCHEDULES
        names = list(registry)
        values[name] = cols[j % 4].selectbox(
            label, names, index=names.index(getattr(base, name)), key=f"tl_{name}"
        )
    return dataclasses.replace(base, **values)


def _ranges(lesson: Lesson, train: TrainConfig) -> tuple[FieldRange, ...]:
    """Which hyperparameters students may change, and the range for numbers."""
    labels = {n: v[0] for n, v in NUMBERS.items()} | CHOICES
    old = {r.name: r for r in lesson.editable}
    chosen = st.multiselect(
        "Students may change", list(labels), default=[n for n in old if n in labels],
        format_func=labels.get, key="tl_editable", placeholder="nothing: the preset is fixed",
    )  # fmt: skip
    ranges = []
    for name in chosen:
        if name not in NUMBERS:
            ranges.append(FieldRange(name))
            continue
        label, fmt, (lo, hi) = NUMBERS[name]
        if name in old:
            lo = old[name].lo if old[name].lo is not None else lo
            hi = old[name].hi if old[name].hi is not None else hi
        kind = type(getattr(train, name))
        left, right = st.columns(2)
        lo = left.number_input(f"{label}: lowest", value=kind(lo), format=fmt, key=f"tl_lo_{name}")
        hi = right.number_input(
            f"{label}: highest", value=kind(hi), format=fmt, key=f"tl_hi_{name}"
        )
        ranges.append(FieldRange(name, float(lo), float(hi)))
    return tuple(ranges)


LIMITS = {  # ClassLimits field -> (label, lowest, highest)
    "max_waiting": ("Runs waiting per student", 1, 20),
    "max_epochs": ("Epochs per run, at most", 1, 1000),
    "max_minutes": ("Minutes per run, at most", 0.0, 600.0),
    "max_image_size": ("Image side, at most (px, 0 = any)", 0, 1024),
}


def _limits(old: ClassLimits) -> ClassLimits:
    values = {}
    for col, (name, (label, lo, hi)) in zip(st.columns(4), LIMITS.items(), strict=True):
        kind = type(lo)
        values[name] = kind(
            col.number_input(label, lo, hi, kind(getattr(old, name)), key=f"tl_{name}")
        )
    return ClassLimits(**values)


def check_ranges(train: TrainConfig, ranges: tuple[FieldRange, ...]) -> list[str]:
    """What is wrong with the preset's ranges (empty when fine): a range must hold its start."""
    problems = []
    for r in ranges:
        value = getattr(train, r.name)
        if r.lo is not None and r.hi is not None and r.lo > r.hi:
            problems.append(f"{r.name}: the lowest value is above the highest")
        elif r.lo is not None and r.hi is not None and not r.lo <= value <= r.hi:
            problems.append(f"{r.name}: the starting value {value:g} is outside {r.lo:g}..{r.hi:g}")
    return problems


def lesson_editor(lesson: Lesson) -> None:
    """The whole editor with its Start / Update / End buttons."""
    title = st.text_input("Lesson title", value=lesson.title, max_chars=80, key="tl_title")
    left, right = st.columns(2)
    with left:
        data = _pick_data(lesson)
    with right:
        model = _pick_model(lesson)
    st.markdown("**Starting hyperparameters**")
    train = _train_fields(lesson.train)
    editable = _ranges(lesson, train)
    hidden = st.multiselect(
        "Pages hidden for the lesson", list(PAGES), default=[p for p in lesson.hidden_pages if p in PAGES],
        format_func=PAGES.get, key="tl_hidden", placeholder="none",
    )  # fmt: skip
    st.markdown("**Class limits**")
    limits = _limits(lesson.limits)
    row = st.container(horizontal=True)
    start = row.button("Start lesson", type="primary", icon=":material/play_lesson:", key="tl_start",
                       help="a new lesson: a new, empty leaderboard")  # fmt: skip
    update = lesson.active and row.button("Update this lesson", icon=":material/edit:", key="tl_update",
                                          help="change the rules, keep the leaderboard")  # fmt: skip
    end = lesson.active and row.button("End lesson", icon=":material/stop_circle:", key="tl_end")
    if not (start or update or end):
        return
    state_dir = classroom_settings().state_dir
    if end:
        save_lesson(Lesson(limits=limits), state_dir)  # no lesson; the class limits stay
        st.toast("Lesson ended: students choose freely within the class limits.")
        st.rerun()
    try:
        train = build(TrainConfig, to_dict(train))
    except ConfigError as exc:
        st.error(f"These hyperparameters cannot be used: {md_escape(exc)}", icon=":material/error:")
        return
    problems = check_ranges(train, editable)
    if not title.strip():
        problems.insert(0, "give the lesson a title (students see it)")
    if problems:
        st.error(
            "The lesson was not started: " + md_escape("; ".join(problems)) + ".",
            icon=":material/error:",
        )
        return
    new = Lesson(lesson.lesson_id if update else "", title.strip(), data, model, train, editable,
                 tuple(hidden), limits, lesson.created if update else 0.0)  # fmt: skip
    saved = save_lesson(new, state_dir)
    st.toast(f"Lesson {'updated' if update else 'started'}: {md_escape(saved.title)}")
    st.rerun()
