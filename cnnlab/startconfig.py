"""What the Train form starts from, and the run it submits: one merge of the config sources.

The form's starting values come from the session's last run on this dataset (so edits survive
leaving the page), else the dataset's recipe (`cnnlab.recipes.default_run_config`). The
augmentation the Augmentation toggle switches on is the dataset's: the last run's, else the
recipe's, else the one the Data page previews (`cnnlab.data.augment.default_augment`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from cnnlab.config import AugmentConfig, DataConfig, ModelConfig, RunConfig, to_dict
from cnnlab.data.augment import default_augment
from cnnlab.recipes import default_run_config
from cnnlab.schema import validated

REPEAT_WINDOW_S = 5.0  # the same settings submitted again within this many seconds = a double press


@dataclass(frozen=True)
class StartConfig:
    """The Train form's starting point for one dataset."""

    config: RunConfig  # the values the form starts with
    source: str  # "recipe" or "last run"
    dataset_augment: AugmentConfig  # what the Augmentation toggle switches on


def start_config(data: DataConfig, last: RunConfig | None = None) -> StartConfig:
    """The form's start for dataset `data`; `last` is the session's last run (any dataset)."""
    recipe = default_run_config(data.name)
    base, source = recipe, "recipe"
    if last is not None and last.data.name == data.name:
        base, source = last, "last run"
    candidates = (base.augment, recipe.augment, default_augment(data.name))
    augment = next((a for a in candidates if a != AugmentConfig()), AugmentConfig())
    return StartConfig(dataclasses.replace(base, data=data), source, augment)


def run_config(
    start: StartConfig, *, model: ModelConfig, augment: bool, **train_fields: Any
) -> RunConfig:
    """The run the form submits: its start with the model of the Model page, the dataset's
    augmentation when `augment`, and the TrainConfig fields typed in the form. Validated
    (`cnnlab.schema`): a ConfigError names each field out of its range."""
    train = dataclasses.replace(start.config.train, **train_fields)
    return validated(
        dataclasses.replace(
            start.config,
            model=model,
            augment=start.dataset_augment if augment else AugmentConfig(),
            train=train,
        )
    )


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


def is_repeat(
    cfg: RunConfig,
    last: tuple[str, float] | None,
    now: float,
    window_s: float = REPEAT_WINDOW_S,
) -> bool:
    """Whether `cfg` is the same as the last submit `last` = (config_key, unix seconds) made
    less than `window_s` seconds before `now` (a double press, not a wish for a second run)."""
    if last is None:
        return False
    key, when = last
    return key == config_key(cfg) and 0 <= now - when < window_s and math.isfinite(when)
