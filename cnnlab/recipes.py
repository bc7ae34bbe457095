"""Default recipes per dataset: the fast, tuned settings the app and the CLI start from.

A recipe is a complete RunConfig, so a classroom demo is fast without tuning. Each dataset
registers its recipe beside its loader (`cnnlab/data/*.py`, `DatasetInfo.recipe`); the MNIST and
CIFAR-10 recipes are the ones measured in bench/ (see bench/RESULTS.md). Names that are not
registered get the generic recipe of user images ("folder").
"""

from __future__ import annotations

from dataclasses import replace

from cnnlab.config import DataConfig, RunConfig
from cnnlab.data import DATASETS, default_augment

__all__ = ["default_augment", "default_run_config"]


def default_run_config(dataset: str, **data_fields: object) -> RunConfig:
    """The recipe for `dataset` (a registry name), with DataConfig fields set from `data_fields`."""
    info = DATASETS.get(dataset if dataset in DATASETS else "folder")
    return replace(info.recipe, data=DataConfig(name=dataset, **data_fields))  # type: ignore[arg-type]
