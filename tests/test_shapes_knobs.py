"""The shapes set's difficulty knobs (ShapesConfig): each changes the images as it says, the
levels resolve, label noise touches train labels only, and generation is deterministic by seed."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cnnlab.config import PRESET, DataConfig, RunConfig, ShapesConfig, run_config_from_dict, to_dict
from cnnlab.data import load_dataset, make_shapes
from cnnlab.data.shapes import (
    LEVELS,
    SHAPE_CLASSES,
    _cached_shapes,
    flip_labels,
    preview_shapes,
    shapes_knobs,
)

# a plain set to change one knob at a time: no noise, clutter or occlusion
PLAIN = ShapesConfig(0, noise=0.0, clutter=0.0, occlusion=0.0, label_noise=0.0)
SQUARE = SHAPE_CLASSES.index("square")


def shapes(n: int = 240, seed: int = 0, **knobs: float) -> tuple[torch.Tensor, torch.Tensor]:
    return make_shapes(n, 32, seed, dataclasses.replace(PLAIN, **knobs))


def shape_masks(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool: pixels unlike the top-left one (a plain set's background colour)."""
    diff = (x.int() - x[:, :, :1, :1].int()).abs().sum(1)  # (N, H, W), summed over RGB
    return diff > 60


def box_fill(mask: torch.Tensor) -> torch.Tensor:
    """(N,) share of each mask's bounding box that the mask covers (1 for an upright square)."""
    fills = []
    for m in mask:
        rows, cols = m.any(1).nonzero(), m.any(0).nonzero()
        area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        fills.append(m.sum() / area)
    return torch.stack(fills).float()


def test_an_old_config_without_shapes_loads_with_the_defaults() -> None:
    old = to_dict(RunConfig())
    del old["data"]["shapes"]  # saved before ShapesConfig existed
    old["data"]["someday"] = 1  # and a key from a newer version
    assert run_config_from_dict(old).data.shapes == ShapesConfig()
    new = to_dict(RunConfig(data=DataConfig(shapes=ShapesConfig(3, noise=0.2))))
    assert run_config_from_dict(new).data.shapes == ShapesConfig(3, noise=0.2)


def test_levels_fill_the_knobs_left_at_preset_and_keep_the_others() -> None:
    assert shapes_knobs(ShapesConfig(1)) == LEVELS[1]
    mixed = shapes_knobs(ShapesConfig(1, noise=0.3))
    assert mixed.noise == 0.3 and mixed.clutter == LEVELS[1].clutter
    assert PRESET not in dataclasses.astuple(shapes_knobs(ShapesConfig()))
    noise = [LEVELS[k].noise for k in sorted(LEVELS)]
    assert noise == sorted(noise) and LEVELS[0].occlusion == 0  # harder with the level


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        (ShapesConfig(7), "difficulty must be one of"),
        (ShapesConfig(noise=2.0), "noise must be between 0 and 1"),
        (ShapesConfig(rotation=-5.0), "rotation must be between 0 and 180"),
        (ShapesConfig(label_noise=0.9), "label_noise must be between 0 and 0.5"),
        (ShapesConfig(scale_min=0.8, scale_max=0.3), "must not exceed"),
        (ShapesConfig(occlusion=float("nan")), "occlusion must be between"),
    ],
)
def test_bad_knobs_are_refused_with_what_is_allowed(knobs: ShapesConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_dataset(DataConfig(name="shapes", num_images=60, shapes=knobs))


def test_generation_is_deterministic_by_seed_for_any_knobs() -> None:
    hard = ShapesConfig(3)
    x, y = make_shapes(300, 32, 5, hard)
    x2, y2 = make_shapes(300, 32, 5, hard)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, make_shapes(300, 32, 6, hard)[0])
    a, b = (
        load_dataset(DataConfig(num_images=300, seed=2)),
        load_dataset(DataConfig(num_images=300, seed=2)),
    )
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.train.y, b.train.y)


def background_spread(x: torch.Tensor) -> torch.Tensor:
    """Median over images of the pixel std in the outer 3-pixel ring (mostly background)."""
    border = torch.ones(32, 32, dtype=torch.bool)
    border[3:-3, 3:-3] = False
    return x.float()[:, :, border].std(2).mean(1).median()


def test_noise_raises_pixel_variance_and_changes_nothing_else() -> None:
    clean, y = shapes()
    noisy, y2 = shapes(noise=0.2)
    assert torch.equal(y, y2)
    diff = (noisy.float() - clean.float()) / 255
    assert 0.15 < diff.std() < 0.21  # 0.2 std, less where clipping at 0 and 1 trims it
    assert background_spread(clean) < 3 and background_spread(noisy) > 10 * background_spread(clean)
    assert background_spread(shapes(noise=0.05)[0]) < background_spread(noisy)


def test_clutter_textures_the_background() -> None:
    clean, _ = shapes()
    busy, _ = shapes(clutter=1.0)
    assert background_spread(busy) > 5 * background_spread(clean)
    assert background_spread(shapes(clutter=0.3)[0]) < background_spread(busy)
    assert shape_masks(busy).float().mean() > shape_masks(clean).float().mean()  # + strokes


def test_rotation_zero_gives_upright_shapes() -> None:
    upright, y = shapes(600, rotation=0.0)
    turned, _ = shapes(600, rotation=180.0)
    squares = y == SQUARE
    assert box_fill(shape_masks(upright[squares])).min() > 0.85  # squares fill their boxes
    assert box_fill(shape_masks(turned[squares])).mean() < 0.8  # most are tilted
    # at rotation 0 every triangle points the same way: its mass sits on one side of its box
    side = []
    for m in shape_masks(upright[y == SHAPE_CLASSES.index("triangle")]):
        rows = m.nonzero()[:, 0].float()  # row of every shape pixel
        side.append(rows.mean() > (rows.min() + rows.max()) / 2)
    assert all(side) or not any(side)


def test_scale_range_sets_the_shape_size() -> None:
    small, _ = shapes(scale_min=0.2, scale_max=0.25)
    large, _ = shapes(scale_min=0.8, scale_max=0.85)
    ratio = shape_masks(large).sum((1, 2)).float() / shape_masks(small).sum((1, 2)).float()
    assert ratio.median() > 8  # area grows with the square of the radius (~3.5x)


def test_occlusion_hides_part_of_the_shape_in_that_share_of_images() -> None:
    whole, _ = shapes(600)
    hidden, _ = shapes(600, occlusion=0.5)
    lost = shape_masks(whole).sum((1, 2)) - shape_masks(hidden).sum((1, 2))
    changed = (hidden != whole).flatten(1).any(1)
    assert 0.4 < changed.float().mean() < 0.6
    assert (lost[changed] > 0).float().mean() > 0.9  # a box of background over the shape


def test_label_noise_flips_that_share_of_train_labels_and_never_val_or_test() -> None:
    base = DataConfig(num_images=1200, seed=3, shapes=dataclasses.replace(PLAIN, label_noise=0.0))
    clean = load_dataset(base)
    noisy = load_dataset(
        dataclasses.replace(base, shapes=dataclasses.replace(PLAIN, label_noise=0.2))
    )
    assert torch.equal(clean.train.x, noisy.train.x)  # same images, same split
    for a, b in ((clean.val, noisy.val), (clean.test, noisy.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    flipped = (clean.train.y != noisy.train.y).float().mean()
    assert flipped == pytest.approx(0.2, abs=1 / len(clean.train))
    assert any("label noise: 20%" in n for n in noisy.notes)
    y = torch.arange(6).repeat(50)
    assert torch.equal(flip_labels(y, 0.1, 0, 6), flip_labels(y, 0.1, 0, 6))  # seeded
    assert (flip_labels(y, 0.0, 0, 6) == y).all()


def test_the_disk_cache_keys_on_the_knobs() -> None:
    a = _cached_shapes(120, 16, 0, shapes_knobs(ShapesConfig(0)))
    b = _cached_shapes(120, 16, 0, shapes_knobs(ShapesConfig(3)))
    assert not torch.equal(a[0], b[0])  # not the first set read back
    again = _cached_shapes(120, 16, 0, shapes_knobs(ShapesConfig(3)))  # from the cache
    assert torch.equal(again[0], b[0]) and torch.equal(
        again[0], make_shapes(120, 16, 0, ShapesConfig(3))[0]
    )


def test_preview_shows_one_image_per_class_in_each_row() -> None:
    x, y = preview_shapes(DataConfig(shapes=ShapesConfig(2)), rows=3)
    k = len(SHAPE_CLASSES)
    assert x.shape == (3 * k, 3, 32, 32)
    assert y.view(3, k).tolist() == [list(range(k))] * 3
