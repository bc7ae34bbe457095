"""What the Train form starts from, and the run it submits: one merge of the config sources.

The form's starting values come from the session's last run on this dataset (so edits survive
leaving the page), else the dataset's recipe (`cnnlab.recipes.default_run_config`).
The augmentation is designed on the Data page and kept per dataset (`design_key`) in the
session; the form trains that design (its toggle can switch it off). Before anything is
designed, the Data page and the form both start from `start_augment`: the last run's
augmentation, else the recipe's, else the dataset's registered one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cnnlab.config import AugmentConfig, DataConfig, ModelConfig, RunConfig, to_dict
from cnnlab.data.augment import default_augment
from cnnlab.recipes import default_run_config
from cnnlab.schema import validated


@dataclass(frozen=True)
class StartConfig:
    """The Train form's starting point for one dataset."""

    config: RunConfig  # the values the form starts with
    source: str  # "recipe", "last run" or "the lesson" (a student's first run in a lesson)
    dataset_augment: AugmentConfig  # the design the Augmentation toggle switches on


def design_key(data: DataConfig) -> str:
    """The key of a dataset's augmentation design: its name, plus the path for user images."""
    return f"{data.name}:{data.path}" if data.path else data.name


def start_augment(data: DataConfig, last: RunConfig | None = None) -> AugmentConfig:
    """The augmentation a dataset starts from before the user designs one: the last run's on this
    dataset (`last`, any dataset), else the recipe's, else the registered one (all off if none)."""
    candidates = [default_run_config(data.name).augment, default_augment(data.name)]
    if last is not None and last.data.name == data.name:
        candidates.insert(0, last.augment)
    return next((a for a in candidates if a != AugmentConfig()), AugmentConfig())


def start_config(
    data: DataConfig, last: RunConfig | None = None, design: AugmentConfig | None = None
) -> StartConfig:
    """The form's start for dataset `data`; `last` is the session's last run (any dataset),
    `design` the augmentation designed on the Data page (None = not designed yet).

    A design that differs from `start_augment` is what the user asked for: it starts switched
    on. Otherwise the toggle starts as the last run (else the recipe) had it."""
    recipe = default_run_config(data.name)
    base, source = recipe, "recipe"
    if last is not None and last.data.name == data.name:
        base, source = last, "last run"
    augment = start_augment(data, last)
    if design is not None and design != augment:
        augment, base = design, dataclasses.replace(base, augment=design)
    return StartConfig(dataclasses.replace(base, data=data), source, augment)


def recipe_augment(data: DataConfig) -> tuple[AugmentConfig, bool]:
    """(the design, switched on?) that "reset to the recipe" restores for `data`."""
    return start_augment(data), default_run_config(data.name).augment != AugmentConfig()


def run_config(
    start: StartConfig, *, model: ModelConfig, augment: AugmentConfig, **train_fields: Any
) -> RunConfig:
    """The run the form submits: its start with the model of the Model page, the augmentation
    `augment` (the design, or AugmentConfig() when switched off) and the TrainConfig fields
    typed in the form. Validated (`cnnlab.schema`): a ConfigError names each field out of range."""
    train = dataclasses.replace(start.config.train, **train_fields)
    return validated(dataclasses.replace(start.config, model=model, augment=augment, train=train))


def describe_augment(aug: AugmentConfig) -> str:
    """One line naming what `aug` does, e.g. "random crop (pad 4 px), horizontal flip"."""
    parts = []
    if aug.crop_padding:
        parts.append(f"random crop (pad {aug.crop_padding} px)")
    if aug.hflip:
        parts.append("horizontal flip")
    if aug.rotate_degrees:
        parts.append(f"rotation ±{aug.rotate_degrees:g}°")
    if aug.translate:
        parts.append(f"shift ±{aug.translate:.0%}")
    if aug.color_jitter:
        parts.append(f"colour jitter {aug.color_jitter:g}")
    if aug.erasing:
        parts.append(f"random erasing p={aug.erasing:g}")
    return ", ".join(parts) or "none"


def config_key(cfg: RunConfig) -> str:
    """A value equal for equal configs (to recognise the same settings submitted twice)."""
    return repr(to_dict(cfg))
