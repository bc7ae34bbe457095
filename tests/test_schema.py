"""The run-config schema (cnnlab/schema.py): types, ranges and names, with messages that name the
field and what it allows; old config.json files without newer fields still load."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from cnnlab.config import (
    AugmentConfig,
    ConvBlock,
    DataConfig,
    ModelConfig,
    ModelSpec,
    RunConfig,
    TrainConfig,
    ranged,
    run_config_from_dict,
    to_dict,
)
from cnnlab.schema import ConfigError, build, check, check_names, validated
from cnnlab.startconfig import run_config, start_config


def config_dict(**changes: dict[str, Any]) -> dict[str, Any]:
    """RunConfig() as JSON data, with `changes` merged into its sections."""
    data = json.loads(json.dumps(to_dict(RunConfig())))
    for section, values in changes.items():
        data[section].update(values)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        run_config_from_dict(data)
    return info.value.problems


def test_round_trip_of_every_recipe_and_the_defaults() -> None:
    from cnnlab.data import DATASETS

    for name, info in [("default", None), *DATASETS.items()]:
        cfg = RunConfig() if info is None else info.recipe
        assert run_config_from_dict(json.loads(json.dumps(to_dict(cfg)))) == cfg, name


def test_a_string_in_a_number_field_is_named_not_guessed() -> None:
    assert problems(config_dict(train={"epochs": "3"})) == [
        'train.epochs: expected an integer, got "3"'
    ]


def test_out_of_range_names_the_range() -> None:
    assert problems(config_dict(train={"lr": -1})) == ["train.lr: must be > 0, got -1"]
    assert problems(config_dict(data={"val_fraction": 1})) == [
        "data.val_fraction: must be in (0, 1), got 1"
    ]
    assert problems(config_dict(train={"epochs": -1})) == [
        "train.epochs: must be between 0 and 10000, got -1"
    ]


def test_every_problem_is_listed_at_once() -> None:
    found = problems(config_dict(train={"lr": 0, "nesterov": "yes"}, augment={"erasing": 2.0}))
    assert found == [
        "augment.erasing: must be between 0 and 1, got 2.0",
        "train.lr: must be > 0, got 0",
        'train.nesterov: expected true or false, got "yes"',
    ]


def test_wrong_types_bool_float_str_object() -> None:
    assert problems(config_dict(train={"batch_size": True})) == [
        "train.batch_size: expected an integer, got true"
    ]
    assert problems(config_dict(train={"lr": "fast"})) == [
        'train.lr: expected a finite number, got "fast"'
    ]
    assert problems(config_dict(data={"name": 3})) == ["data.name: expected a string, got 3"]
    assert problems({"train": [1, 2]}) == ["train: expected an object, got [1, 2]"]


def test_integral_floats_count_as_integers_and_ints_as_floats() -> None:
    cfg = run_config_from_dict(config_dict(train={"epochs": 4.0, "lr": 1}))
    assert cfg.train.epochs == 4 and isinstance(cfg.train.epochs, int)
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert problems(config_dict(train={"epochs": 2.5})) == [
        "train.epochs: expected an integer, got 2.5"
    ]


def test_fixed_choices() -> None:
    assert problems(config_dict(train={"precision": "fp16"})) == [
        'train.precision: must be one of "fp32", "bf16", "auto", got "fp16"'
    ]


def test_nested_fields_of_a_custom_network() -> None:
    spec = to_dict(ModelSpec(blocks=(ConvBlock(16), ConvBlock(32))))
    spec["blocks"][1]["filters"] = 0  # the block editor's range is 1..1024
    spec["hidden"] = [64, "wide"]
    data = config_dict(model={"name": "custom", "spec": spec})
    assert problems(data) == [
        "model.spec.blocks[1].filters: must be between 1 and 1024, got 0",
        'model.spec.hidden[1]: expected an integer, got "wide"',
    ]


def test_unknown_registry_names_are_refused_where_a_run_starts() -> None:
    cfg = RunConfig(data=DataConfig(name="no-such-set"), model=ModelConfig(name="nonet"))
    check(cfg)  # types and ranges are fine: a saved run of a renamed model still loads
    with pytest.raises(ConfigError) as info:
        check_names(cfg)
    first, second = info.value.problems
    assert first.startswith('data.name: unknown dataset "no-such-set"; choose one of: shapes,')
    assert second.startswith('model.name: unknown model "nonet"; choose one of: classic,')
    bad_block = RunConfig(model=ModelConfig(spec=ModelSpec(blocks=(ConvBlock(pool="median"),))))
    with pytest.raises(ConfigError, match=r'model.spec.blocks\[0\].pool: unknown pooling "median"'):
        validated(bad_block)


def test_old_config_without_newer_fields_loads_with_defaults() -> None:
    old = {  # a config.json of an early run: few fields, one since removed
        "data": {"name": "digits", "limit": 500},
        "model": {"name": "classic"},
        "train": {"epochs": 2, "lr": 0.01, "warmup": 3},
    }
    cfg = run_config_from_dict(old)
    assert cfg.data == DataConfig(name="digits", limit=500)
    assert cfg.train == TrainConfig(epochs=2, lr=0.01)
    assert cfg.augment == RunConfig().augment and cfg.note == ""


@dataclass(frozen=True)
class Inner:
    count: int = ranged(4, 1, 9)
    label: str = "x"
    sizes: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    scale: float | None = None


def test_generic_over_new_nested_dataclasses() -> None:
    """A dataclass the schema has never seen (as a helper adds `DataConfig.shapes`): its fields
    get type checks, ranges where declared, and their path in the message."""
    assert build(Outer, {"inner": {"sizes": [3]}, "scale": None}) == Outer(Inner(sizes=(3,)))
    assert build(Outer, {"scale": 2}).scale == 2.0
    with pytest.raises(ConfigError) as info:
        build(Outer, {"inner": {"count": 10, "label": 1, "sizes": 5}, "scale": "big"})
    assert info.value.problems == [
        "inner.count: must be between 1 and 9, got 10",
        "inner.label: expected a string, got 1",
        "inner.sizes: expected a list, got 5",
        'scale: expected a finite number, got "big"',
    ]


def test_run_folder_with_a_bad_config_says_which_field(tmp_path: Any) -> None:
    from cnnlab.runs import create_run
    from cnnlab.runs.store import CONFIG_FILE

    run = create_run(RunConfig(), tmp_path)
    (run.path / CONFIG_FILE).write_text(json.dumps(config_dict(train={"batch_size": -8})))
    with pytest.raises(ValueError, match=r"train.batch_size: must be >= 1, got -8"):
        run.config()


def test_the_train_form_config_is_validated() -> None:
    start = start_config(DataConfig(name="digits"))
    ok = run_config(start, model=ModelConfig(), augment=AugmentConfig(), lr=0.05, epochs=2)
    assert ok.train.lr == 0.05
    with pytest.raises(ConfigError, match=r"train.label_smoothing: must be in \[0, 1\), got 1.5"):
        run_config(start, model=ModelConfig(), augment=AugmentConfig(), label_smoothing=1.5)
    with pytest.raises(ConfigError, match="model.name: unknown model"):
        run_config(
            start,
            model=dataclasses.replace(ModelConfig(), name="gone"),
            augment=start.dataset_augment,
        )
