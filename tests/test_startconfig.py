"""The Train form's one merge of its config sources (last run, recipe, the Data page's design)."""

from __future__ import annotations

from dataclasses import replace

from cnnlab.config import AugmentConfig, DataConfig, ModelConfig
from cnnlab.data.augment import default_augment
from cnnlab.recipes import default_run_config
from cnnlab.startconfig import (
    describe_augment,
    design_key,
    recipe_augment,
    run_config,
    start_augment,
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
    assert start.config.augment == AugmentConfig()  # the toggle starts as the last run had it
    custom = AugmentConfig(rotate_degrees=7.0)
    start = start_config(DataConfig(name="shapes"), replace(last, augment=custom))
    assert start.dataset_augment == custom  # the last run's own augmentation first


def test_a_design_from_the_data_page_is_what_the_form_starts_from() -> None:
    design = AugmentConfig(rotate_degrees=30.0)
    last = replace(default_run_config("shapes"), augment=AugmentConfig())  # trained without
    start = start_config(DataConfig(name="shapes"), last, design)
    assert start.dataset_augment == design and start.config.augment == design  # switched on
    cfg = run_config(start, model=ModelConfig(), augment=start.dataset_augment)
    assert cfg.augment == design
    # a design equal to the start is no wish: the toggle stays as the last run had it
    same = start_config(DataConfig(name="shapes"), last, start_augment(DataConfig(name="shapes")))
    assert same.config.augment == AugmentConfig()


def test_start_augment_and_reset_follow_the_recipes() -> None:
    for name in ("shapes", "digits", "cifar10"):
        recipe = default_run_config(name).augment
        augment, on = recipe_augment(DataConfig(name=name))
        assert on == (recipe != AugmentConfig())
        assert augment == (recipe if on else default_augment(name))
    assert default_run_config("digits").augment != AugmentConfig()  # digits has a default now
    mnist = DataConfig(name="mnist")  # recipe without: the toggle off, the registered one shown
    if default_run_config("mnist").augment == AugmentConfig():
        assert recipe_augment(mnist) == (default_augment("mnist"), False)


def test_design_keys_tell_user_folders_apart() -> None:
    assert design_key(DataConfig(name="digits")) == "digits"
    a = design_key(DataConfig(name="folder", path="upload:x/a.zip"))
    assert a != design_key(DataConfig(name="folder", path="upload:x/b.zip"))


def test_run_config_holds_exactly_the_form_values() -> None:
    start = start_config(DataConfig(name="digits"))
    model = ModelConfig(name="lenet5")
    cfg = run_config(start, model=model, augment=AugmentConfig(), epochs=2, lr=0.5, optimizer="sgd")
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.optimizer) == (2, 0.5, "sgd")
    assert cfg.model == model and cfg.augment == AugmentConfig()
    assert cfg.train.momentum == start.config.train.momentum  # fields not in the form kept
    on = run_config(start, model=model, augment=start.dataset_augment)
    assert on.augment == start.dataset_augment


def test_describe_augment() -> None:
    assert describe_augment(AugmentConfig()) == "none"
    text = describe_augment(AugmentConfig(crop_padding=4, hflip=True, translate=0.1))
    assert text == "random crop (pad 4 px), horizontal flip, shift ±10%"
