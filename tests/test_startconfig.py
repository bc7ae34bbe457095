"""The Train form's one merge of its config sources (last run, recipe, dataset augmentation)."""

from __future__ import annotations

from dataclasses import replace

from cnnlab.config import AugmentConfig, DataConfig, ModelConfig
from cnnlab.data.augment import default_augment
from cnnlab.recipes import default_run_config
from cnnlab.startconfig import (
    config_key,
    describe_augment,
    is_repeat,
    run_config,
    start_config,
)


def test_no_last_run_starts_from_the_recipe() -> None:
    start = start_config(DataConfig(name="digits"))
    assert start.source == "recipe"
    assert start.config == default_run_config("digits")


def test_last_run_on_the_same_dataset_wins_over_the_recipe() -> None:
    last = default_run_config("digits")
    last = replace(last, train=replace(last.train, epochs=6, lr=0.123))
    start = start_config(DataConfig(name="digits"), last)
    assert start.source == "last run" and start.config.train == last.train


def test_last_run_on_another_dataset_is_ignored() -> None:
    last = default_run_config("shapes")
    last = replace(last, train=replace(last.train, epochs=6))
    start = start_config(DataConfig(name="digits"), last)
    assert start.source == "recipe" and start.config == default_run_config("digits")


def test_the_current_data_config_is_kept() -> None:
    data = DataConfig(name="digits", image_size=20)
    assert start_config(data).config.data == data


def test_dataset_augmentation_falls_back_to_the_data_pages_default() -> None:
    last = replace(default_run_config("shapes"), augment=AugmentConfig())  # trained without
    start = start_config(DataConfig(name="shapes"), last)
    expected = default_run_config("shapes").augment
    if expected == AugmentConfig():
        expected = default_augment("shapes")
    assert start.dataset_augment == expected
    custom = AugmentConfig(rotate_degrees=7.0)
    start = start_config(DataConfig(name="shapes"), replace(last, augment=custom))
    assert start.dataset_augment == custom  # the last run's own augmentation first


def test_run_config_holds_exactly_the_form_values() -> None:
    start = start_config(DataConfig(name="digits"))
    model = ModelConfig(name="lenet5")
    cfg = run_config(start, model=model, augment=False, epochs=2, lr=0.5, optimizer="sgd")
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.optimizer) == (2, 0.5, "sgd")
    assert cfg.model == model and cfg.augment == AugmentConfig()
    assert cfg.train.momentum == start.config.train.momentum  # fields not in the form kept
    on = run_config(start, model=model, augment=True)
    assert on.augment == start.dataset_augment


def test_describe_augment() -> None:
    assert describe_augment(AugmentConfig()) == "none"
    text = describe_augment(AugmentConfig(crop_padding=4, hflip=True, translate=0.1))
    assert text == "random crop (pad 4 px), horizontal flip, shift ±10%"


def test_repeat_means_same_settings_within_the_window() -> None:
    cfg = default_run_config("digits")
    other = replace(cfg, train=replace(cfg.train, epochs=cfg.train.epochs + 1))
    last = (config_key(cfg), 100.0)
    assert not is_repeat(cfg, None, 100.0)
    assert is_repeat(cfg, last, 101.0)
    assert not is_repeat(other, last, 101.0)  # different settings: a second run is wanted
    assert not is_repeat(cfg, last, 100.0 + 60)  # later on purpose
