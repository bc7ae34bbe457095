"""Which controls a session may change: a link's `_lock`/`_hide` and, for a student in classroom
mode, the lesson preset and the class limits. The lesson wins over a link: a field the lesson fixes
keeps the lesson's value whatever the link says, and an editable one stays within its range.

The pages draw from `Rules` (disabled or hidden widgets, number boxes bounded by `bounds`), so the
form never offers a value `cnnlab.classroom.lesson.admit` would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnlab.classroom.lesson import Lesson
from cnnlab.config import DataConfig, ModelConfig, TrainConfig
from cnnlab.sharelink import AUGMENT, TRAIN_FIELDS, SharedState

LINK, LESSON = "link", "lesson"
WHY = {LINK: "locked by the teacher's link", LESSON: "fixed by the lesson"}
NUMBERS = {  # form field -> the form's own (min, max)
    "lr": (1e-6, 1e6), "weight_decay": (0.0, 1.0), "epochs": (1, 500), "label_smoothing": (0.0, 0.5),
    "seed": (0, 2**31 - 1), "early_stopping": (0, 100), "batch_size": (1, 1024),
}  # fmt: skip


@dataclass(frozen=True)
class Rules:
    """What is locked (and by whom), hidden, fixed and bounded for one session."""

    locked: dict[str, str] = field(default_factory=dict)  # control -> LINK or LESSON
    hidden: frozenset[str] = frozenset()
    values: dict[str, Any] = field(default_factory=dict)  # locked train field -> its value
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # field -> (lo, hi)
    data: DataConfig | None = None  # the dataset every run uses (lesson), else None
    model: ModelConfig | None = None  # the network every run uses (lesson), else None
    train: TrainConfig | None = None  # the lesson's hyperparameters (the form's start)
    max_image_size: int = 0  # pixels; 0 = no limit

    def is_locked(self, control: str) -> bool:
        return control in self.locked or control in self.hidden

    def why(self, control: str) -> str:
        return WHY[self.locked.get(control, LINK)]

    def clamp(self, name: str, value: Any) -> Any:
        """`value` moved into `name`'s bounds (the type kept)."""
        if name not in self.bounds or isinstance(value, (bool, str)):
            return value
        lo, hi = self.bounds[name]
        return type(value)(min(max(value, lo), hi))


def _bounded(name: str, lo: float | None, hi: float | None) -> tuple[float, float]:
    """The form's range for `name` narrowed by (lo, hi); an empty one keeps the form's."""
    low, high = NUMBERS[name]
    if isinstance(low, int):  # integer boxes need integer bounds
        lo = None if lo is None else int(-(-lo // 1))
        hi = None if hi is None else int(hi // 1)
    new = (low if lo is None else max(low, lo), high if hi is None else min(high, hi))
    return new if new[0] <= new[1] else (low, high)


def link_rules(link: SharedState, start: TrainConfig) -> dict[str, Any]:
    """Locked/hidden train fields' values: the link's, else the recipe's `start`."""
    values = {}
    for name in link.lock | link.hide:
        if name in TRAIN_FIELDS:
            values[name] = link.train.get(name, getattr(start, name))
        elif name == AUGMENT and link.augment is not None:
            values[name] = link.augment
    return values


def rules_for(
    link: SharedState, start: TrainConfig, lesson: Lesson | None = None, student: bool = False
) -> Rules:
    """The session's rules: the link's locks, then (a student in classroom mode) the lesson's
    and the class limits on top. `start` is the recipe the link's values fill in."""
    locked = dict.fromkeys(link.lock, LINK)
    values = link_rules(link, start)
    hidden = set(link.hide)
    if not student or lesson is None:
        return Rules(locked, frozenset(hidden), values)
    bounds: dict[str, tuple[float, float]] = {}
    limits = lesson.limits
    data = model = train = None
    if lesson.active:
        data, model, train = lesson.data, lesson.model, lesson.train
        if data is not None:
            locked["data"] = LESSON
        if model is not None:
            locked["model"] = LESSON
        ranges = {r.name: r for r in lesson.editable}
        for name in TRAIN_FIELDS:
            if name not in ranges:  # the lesson fixes it: its value, shown (never hidden)
                locked[name], values[name] = LESSON, getattr(lesson.train, name)
                hidden.discard(name)
            elif name in NUMBERS:
                bounds[name] = _bounded(name, ranges[name].lo, ranges[name].hi)
    if limits.max_epochs:
        lo, hi = bounds.get("epochs", NUMBERS["epochs"])
        bounds["epochs"] = _bounded("epochs", lo, min(hi, limits.max_epochs))
    rules = Rules(locked, frozenset(hidden), values, bounds, data, model, train)
    for name, value in list(values.items()):  # a link's value inside the lesson's range
        values[name] = rules.clamp(name, value)
    return Rules(
        locked, frozenset(hidden), values, bounds, data, model, train, limits.max_image_size
    )
