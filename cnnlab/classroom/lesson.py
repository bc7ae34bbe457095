"""The teacher's lesson preset and the class's limits, and the check every student run passes.

A `Lesson` fixes what the class trains (dataset, model: None leaves it to the student), the
starting hyperparameters, which of them students may change and within which ranges, and the
pages hidden for the lesson. `ClassLimits` bound each student: runs waiting at once, epochs,
minutes and image size per run. `admit` is the backend's check at submit time (the Train form
also locks its controls, but a form is not a lock): it refuses with a message naming the rule,
and stamps the per-run time limit into the config that is saved with the run.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig, to_dict
from cnnlab.jsonio import atomic_write_json, read_dict
from cnnlab.schema import ConfigError, build

LESSON_FILE = "lesson.json"
# Train fields that shape how a run is computed, not what it learns: students keep them.
MACHINE_FIELDS = frozenset(
    {"device", "threads", "channels_last", "precision", "eval_batch_size", "batch_events_per_s",
     "checkpoint_every", "time_limit_s"}
)  # fmt: skip


class PolicyError(ValueError):
    """A run the lesson or the class limits do not allow; the message names the rule."""


@dataclass(frozen=True)
class FieldRange:
    """A hyperparameter students may change, and its allowed range (None = unbounded)."""

    name: str  # a TrainConfig field
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class ClassLimits:
    max_waiting: int = 2  # runs a student may have queued at once (running ones not counted)
    max_epochs: int = 20  # per run
    max_minutes: float = 10.0  # training minutes per run (the run stops itself after them)
    max_image_size: int = 64  # side, pixels, for sets with a chosen size (0 = no limit)


@dataclass(frozen=True)
class Lesson:
    lesson_id: str = ""  # "" = no lesson running: students choose freely within the limits
    title: str = ""
    data: DataConfig | None = None  # None: students pick the dataset
    model: ModelConfig | None = None  # None: students pick or build the network
    train: TrainConfig = field(default_factory=TrainConfig)  # the starting hyperparameters
    editable: tuple[FieldRange, ...] = ()  # what students may change (others stay as `train`)
    hidden_pages: tuple[str, ...] = ()  # url paths of pages hidden for the lesson ("learn", ...)
    limits: ClassLimits = field(default_factory=ClassLimits)
    created: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.lesson_id)

    def editable_names(self) -> set[str]:
        return {r.name for r in self.editable}


def new_lesson_id(title: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in title.lower())[:24].strip("-") or "lesson"
    return f"{slug}-{secrets.token_hex(3)}"


def load_lesson(state_dir: Path) -> Lesson:
    """The lesson in force (no lesson: defaults); a damaged file reads as no lesson."""
    data = read_dict(state_dir / LESSON_FILE)
    try:
        return build(Lesson, data) if data else Lesson()
    except ConfigError:
        return Lesson()


def save_lesson(lesson: Lesson, state_dir: Path) -> Lesson:
    """Put `lesson` in force (atomically); a new title gets a new id (a new leaderboard)."""
    if lesson.title and not lesson.lesson_id:
        lesson = dataclasses.replace(
            lesson, lesson_id=new_lesson_id(lesson.title), created=time.time()
        )
    atomic_write_json(state_dir / LESSON_FILE, to_dict(lesson))
    return lesson


def _check_lesson(cfg: RunConfig, lesson: Lesson) -> list[str]:
    problems = []
    if lesson.data is not None and cfg.data != lesson.data:
        problems.append(
            f"this lesson trains on the {lesson.data.name!r} dataset as the teacher set it"
        )
    if lesson.model is not None and cfg.model != lesson.model:
        problems.append(f"this lesson uses the teacher's {lesson.model.name!r} network")
    ranges = {r.name: r for r in lesson.editable}
    for f in dataclasses.fields(TrainConfig):
        mine, set_ = getattr(cfg.train, f.name), getattr(lesson.train, f.name)
        if f.name in MACHINE_FIELDS or mine == set_:
            continue
        rule = ranges.get(f.name)
        if rule is None:
            problems.append(f"{f.name} is fixed at {set_!r} in this lesson")
        elif isinstance(mine, (int, float)) and not isinstance(mine, bool):
            if (rule.lo is not None and mine < rule.lo) or (rule.hi is not None and mine > rule.hi):
                problems.append(f"{f.name} must be within {rule.lo}..{rule.hi} in this lesson")
    return problems


def admit(cfg: RunConfig, lesson: Lesson, waiting: int) -> RunConfig:
    """`cfg` as it may run for a student who has `waiting` runs queued, with the lesson's time
    limit stamped in; PolicyError naming every rule it breaks."""
    limits = lesson.limits
    problems = _check_lesson(cfg, lesson) if lesson.active else []
    if waiting >= limits.max_waiting:
        problems.append(
            f"you already have {waiting} run(s) waiting (the class limit is {limits.max_waiting}): "
            "wait for one to start, or stop one"
        )
    if cfg.train.epochs > limits.max_epochs:
        problems.append(f"at most {limits.max_epochs} epochs per run in this class")
    if limits.max_image_size and cfg.data.image_size > limits.max_image_size:
        problems.append(f"images of at most {limits.max_image_size} px in this class")
    if problems:
        raise PolicyError("This run cannot start: " + "; ".join(problems) + ".")
    seconds = limits.max_minutes * 60
    if seconds > 0 and (not cfg.train.time_limit_s or cfg.train.time_limit_s > seconds):
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, time_limit_s=seconds))
    return cfg
