"""Default recipes per dataset: the fast, tuned settings the app and the CLI start from.

A recipe is a complete RunConfig, so a classroom demo is fast without tuning. Each dataset
registers its recipe beside its loader (`cnnlab/data/*.py`, `DatasetInfo.recipe`), and may add a
"long" one that buys accuracy with time (`DatasetInfo.long_recipe`: CIFAR-10's 90%); the MNIST
and CIFAR-10 recipes are the ones measured in bench/ (see bench/RESULTS.md). Names that are not
registered get the generic recipe of user images ("folder").
"""

from __future__ import annotations

from dataclasses import replace

from cnnlab.config import DataConfig, RunConfig
from cnnlab.data import DATASETS, default_augment

__all__ = ["RECIPES", "default_augment", "default_run_config", "recipe_names"]

RECIPES = ("default", "long")  # the recipe names a dataset may have


def recipe_names(dataset: str) -> tuple[str, ...]:
    """The recipes `dataset` has: ("default",) or ("default", "long")."""
    info = DATASETS.get(dataset if dataset in DATASETS else "folder")
    return RECIPES if info.long_recipe is not None else RECIPES[:1]


def default_run_config(dataset: str, recipe: str = "default", **data_fields: object) -> RunConfig:
    """The recipe `recipe` for `dataset` (a registry name), with DataConfig fields set from
    `data_fields`. ValueError names the recipes a dataset has when it lacks `recipe`."""
    info = DATASETS.get(dataset if dataset in DATASETS else "folder")
    chosen = info.recipe if recipe == "default" else info.long_recipe if recipe == "long" else None
    if chosen is None:
        raise ValueError(
            f"{dataset} has no {recipe!r} recipe; it has: {', '.join(recipe_names(dataset))}"
        )
    return replace(chosen, data=DataConfig(name=dataset, **data_fields))  # type: ignore[arg-type]
