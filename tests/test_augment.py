"""Batch augmentation: shapes and ranges, geometry checked against plain tensor references
(torch.flip, edge-padded crops), determinism, previews and per-dataset defaults."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch
import torch.nn.functional as F

from cnnlab.config import AugmentConfig
from cnnlab.data import DATASETS
from cnnlab.data.augment import augment_batch, augment_preview, default_augment

EVERYTHING = AugmentConfig(
    crop_padding=4, hflip=True, rotate_degrees=15, translate=0.1, color_jitter=0.4, erasing=0.5
)


def _batch(b: int = 16, c: int = 3, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _padded_crops(img: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every crop of the edge-replicated padded image: the reference for a random crop."""
    _, h, w = img.shape
    padded = F.pad(img[None], (pad, pad, pad, pad), mode="replicate")[0]
    return [padded[:, i : i + h, j : j + w] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]


@pytest.mark.parametrize("shape", [(8, 3, 32, 32), (8, 1, 28, 28), (5, 3, 24, 40), (3, 1, 8, 8)])
def test_output_shape_dtype_range_and_input_untouched(shape: tuple[int, ...]) -> None:
    x = _batch(*shape)
    before = x.clone()
    out = augment_batch(x, EVERYTHING, _gen())
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, before)
    assert not torch.equal(out, x)


def test_all_off_is_identity() -> None:
    x = _batch()
    assert augment_batch(x, AugmentConfig()) is x
    assert augment_batch(x, AugmentConfig(), _gen()) is x


def test_same_generator_seed_same_result() -> None:
    x = _batch()
    a = augment_batch(x, EVERYTHING, _gen(5))
    b = augment_batch(x, EVERYTHING, _gen(5))
    c = augment_batch(x, EVERYTHING, _gen(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("force_affine", [False, True])
def test_flip_really_flips(force_affine: bool) -> None:
    # force_affine: a negligible rotation routes the flip through the affine resampling path.
    cfg = AugmentConfig(hflip=True, rotate_degrees=1e-9 if force_affine else 0.0)
    x = _batch(64)
    out = augment_batch(x, cfg, _gen(1))
    same = (out - x).abs().amax((1, 2, 3)) < 1e-5
    mirrored = (out - torch.flip(x, dims=[-1])).abs().amax((1, 2, 3)) < 1e-5
    assert torch.all(same ^ mirrored)  # each image is exactly one of the two
    assert 10 < int(mirrored.sum()) < 54  # about half are mirrored


@pytest.mark.parametrize("force_affine", [False, True])
def test_random_crop_is_a_crop_of_the_padded_image(force_affine: bool) -> None:
    cfg = AugmentConfig(crop_padding=3, rotate_degrees=1e-9 if force_affine else 0.0)
    x = _batch(24, 3, 12, 16)
    out = augment_batch(x, cfg, _gen(2))
    offsets_seen = set()
    for img, res in zip(x, out, strict=True):
        matches = [k for k, c in enumerate(_padded_crops(img, 3)) if (c - res).abs().max() < 1e-5]
        assert matches, "output is not a crop of the padded image"
        offsets_seen.add(matches[0])
    assert len(offsets_seen) > 5  # offsets really vary per image


def test_rotation_is_rigid_and_centred_on_non_square_images() -> None:
    # A centred round blob is invariant under rotation about the centre; with a wrong aspect
    # correction it would turn into an ellipse, with a wrong centre it would move.
    h, w = 24, 40
    yy, xx = torch.meshgrid(
        torch.arange(h) + 0.5 - h / 2, torch.arange(w) + 0.5 - w / 2, indexing="ij"
    )
    blob = torch.exp(-(xx**2 + yy**2) / (2 * 3.0**2)).expand(16, 1, h, w)
    out = augment_batch(blob, AugmentConfig(rotate_degrees=90), _gen(3))
    assert (out - blob).abs().max() < 0.03
    long_blob = torch.exp(-(xx**2 / 3.5**2 + yy**2 / 1.5**2) / 2).expand(16, 1, h, w)
    turned = augment_batch(long_blob, AugmentConfig(rotate_degrees=90), _gen(3))
    assert (turned - long_blob).abs().amax((1, 2, 3)).median() > 0.2  # an elongated blob turns
    mass = turned.sum((1, 2, 3))
    assert torch.allclose(mass, long_blob.sum((1, 2, 3)), rtol=0.02)  # area kept
    assert ((turned[:, 0] * xx).sum((1, 2)) / mass).abs().max() < 0.05  # still centred
    assert ((turned[:, 0] * yy).sum((1, 2)) / mass).abs().max() < 0.05


def test_translate_moves_content_by_at_most_the_fraction() -> None:
    x = torch.zeros(32, 1, 20, 20)
    x[:, :, 10, 10] = 1.0
    out = augment_batch(x, AugmentConfig(translate=0.2), _gen(4))
    rows = torch.arange(20.0).view(1, 20, 1)
    mass = out[:, 0].sum((1, 2))
    centre_row = (out[:, 0] * rows).sum((1, 2)) / mass
    assert torch.allclose(mass, torch.ones(32), atol=1e-4)
    assert (centre_row - 10).abs().max() <= 4 + 1e-4 and (centre_row - 10).abs().max() > 1


def test_color_jitter_changes_colours_per_image() -> None:
    x = torch.full((32, 3, 8, 8), 0.5)
    x[:, 0] = 0.8
    out = augment_batch(x, AugmentConfig(color_jitter=0.5), _gen(5))
    means = out.mean((1, 2, 3))
    assert means.std() > 0.02 and out.min() >= 0 and out.max() <= 1
    gray = augment_batch(torch.full((8, 1, 8, 8), 0.5), AugmentConfig(color_jitter=0.5), _gen(5))
    assert gray.shape == (8, 1, 8, 8)


def test_erasing_cuts_one_rectangle_per_image() -> None:
    x = torch.ones(32, 3, 32, 32)
    out = augment_batch(x, AugmentConfig(erasing=1.0), _gen(6))
    for img in out:
        zero = img[0] == 0
        assert zero.any() and torch.equal(zero[None].expand(3, -1, -1), img == 0)
        rows, cols = zero.any(1).nonzero(), zero.any(0).nonzero()
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert int(zero.sum()) == int(box)  # a filled rectangle
    none = augment_batch(x, AugmentConfig(erasing=1e-9), _gen(6))
    assert torch.equal(none, x)


def test_batch_cost_is_small() -> None:
    # One thread: on a busy shared 2-core machine OpenMP contention makes 2-thread timings erratic.
    x, gen, threads = _batch(512), _gen(), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        augment_batch(x, EVERYTHING, gen)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            augment_batch(x, EVERYTHING, gen)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    assert min(times) < 0.25  # ~12 ms measured; a per-image Python loop would take seconds


def test_preview_shape_original_first_and_deterministic() -> None:
    x = (_batch(4) * 255).to(torch.uint8)
    cfg = AugmentConfig(crop_padding=4, hflip=True, color_jitter=0.3)
    p = augment_preview(x, cfg, copies=5, seed=7)
    assert p.shape == (4, 6, 3, 32, 32) and p.dtype == torch.uint8
    assert torch.equal(p[:, 0], x)
    assert torch.equal(p, augment_preview(x, cfg, copies=5, seed=7))
    assert not torch.equal(p, augment_preview(x, cfg, copies=5, seed=8))
    assert not torch.equal(p[:, 1], p[:, 2])  # copies differ from each other
    off = augment_preview(x, AugmentConfig(), copies=2, seed=0)
    assert torch.equal(off[:, 1], x) and torch.equal(off[:, 2], x)


@pytest.mark.parametrize("name", DATASETS.names())
def test_default_augment_respects_the_dataset(name: str) -> None:
    cfg = default_augment(name)
    assert isinstance(cfg, AugmentConfig)
    if cfg.hflip:
        assert DATASETS.get(name).hflip_ok
    if name == "digits":  # 8x8: a small rotation only (measured: no loss of test accuracy)
        assert 0 < cfg.rotate_degrees <= 10 and cfg.crop_padding == 0 and not cfg.hflip
    x = _batch(4, 3, 16, 16)
    assert augment_batch(x, cfg, _gen()).shape == x.shape
    assert dataclasses.asdict(default_augment("unknown")) == dataclasses.asdict(AugmentConfig())
