"""The `shapes` dataset: seeded coloured shapes generated here (offline, any size from 8 to 256 px)."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab.config import (
    PRESET,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    RunConfig,
    ShapesConfig,
    TrainConfig,
)
from cnnlab.data.tensor_cache import cache_file, read_cache, write_cache
from cnnlab.data.types import DatasetInfo, RawImages, register_dataset

SHAPE_CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")

# Signed distance (negative inside) of each shape in its own units, where it spans about [-1, 1].
# Exact inside; outside near corners some are slight underestimates (only anti-aliasing uses them).
# numpy, not torch: single-threaded elementwise ops stay fast on a busy 2-core machine.


def _circle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.sqrt(u * u + v * v) - 1.0


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) - 0.8


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Equilateral, centroid at 0, circumradius 1.15: three half-planes at inradius 0.575.
    s = np.float32(0.5 * math.sqrt(3))
    edges = np.maximum(s * u - 0.5 * v, -s * u - 0.5 * v)
    return np.maximum(edges, v) - 0.575


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Five points: fold the angle into one half-tip wedge [0, pi/5], then the distance to the
    # edge from the tip A = (1.05, 0) to the inner corner B (radius 0.45, angle pi/5).
    wedge = np.float32(2 * math.pi / 5)
    a = np.arctan2(u, v)
    a -= wedge * np.floor(a / wedge)
    a = np.minimum(a, wedge - a)
    r = np.sqrt(u * u + v * v)
    ax, bx, by = 1.05, 0.45 * math.cos(wedge / 2), 0.45 * math.sin(wedge / 2)
    length = math.hypot(bx - ax, by)
    cx, cy = np.float32(by / length), np.float32((bx - ax) / length)
    return r * (cx * np.cos(a) - cy * np.sin(a)) - np.float32(ax * by / length)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    bar1 = np.maximum(au - 0.32, av - 0.95)
    bar2 = np.maximum(av - 0.32, au - 0.95)
    return np.minimum(bar1, bar2)


def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.abs(np.sqrt(u * u + v * v) - 0.775) - 0.225  # between radii 0.55 and 1.0


_SHAPE_SDFS = (_circle, _square, _triangle, _star, _cross, _ring)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N,) hue/saturation/value in [0, 1] -> (N, 3) RGB in [0, 1]."""
    k = (np.array([5.0, 3.0, 1.0], dtype=np.float32) + h[:, None] * 6) % 6
    return v[:, None] * (1 - s[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1))


# difficulty -> the value of every knob. Test accuracy of the shapes recipe (fastnet, 4 epochs,
# 6,000 images; measured over seeds 0-2, see tests/test_shapes_accuracy.py): level 0 ~100%,
# 2 (the default, Quick start) 92-94%, 3 72-77%.
LEVELS: dict[int, ShapesConfig] = {
    0: ShapesConfig(0, noise=0.03, clutter=0.0, scale_min=0.4, scale_max=0.85, rotation=180.0,
                    occlusion=0.0, label_noise=0.0),  # clean: the set as it was
    1: ShapesConfig(1, noise=0.05, clutter=0.15, scale_min=0.35, scale_max=0.85, rotation=180.0,
                    occlusion=0.05, label_noise=0.0),
    2: ShapesConfig(2, noise=0.08, clutter=0.3, scale_min=0.3, scale_max=0.85, rotation=180.0,
                    occlusion=0.15, label_noise=0.0),
    3: ShapesConfig(3, noise=0.14, clutter=0.5, scale_min=0.22, scale_max=0.85, rotation=180.0,
                    occlusion=0.3, label_noise=0.05),
}  # fmt: skip
_LIMITS = {  # knob -> (min, max, unit) for the checks of `shapes_knobs`
    "noise": (0.0, 1.0, "intensity std in [0, 1] units"),
    "clutter": (0.0, 1.0, "strength"),
    "scale_min": (0.15, 1.0, "share of the half-side"),
    "scale_max": (0.15, 1.0, "share of the half-side"),
    "rotation": (0.0, 180.0, "degrees"),
    "occlusion": (0.0, 1.0, "share of images"),
    "label_noise": (0.0, 0.5, "share of training labels"),
}
_GENERATOR_VERSION = 2  # bump when make_shapes draws different images (keys the disk cache)
_STROKES = 3  # stray strokes per image at most (each drawn with probability `clutter`)


def shapes_knobs(cfg: ShapesConfig) -> ShapesConfig:
    """`cfg` with every knob left at PRESET set to its difficulty level's value (then checked).

    Raises ValueError saying which knob is out of range and what range it takes.
    """
    if cfg.difficulty not in LEVELS:
        raise ValueError(f"shapes difficulty must be one of {sorted(LEVELS)}, got {cfg.difficulty}")
    level = LEVELS[cfg.difficulty]
    values = {
        name: float(getattr(level, name) if getattr(cfg, name) == PRESET else getattr(cfg, name))
        for name in _LIMITS
    }
    for name, (low, high, unit) in _LIMITS.items():
        if not (math.isfinite(values[name]) and low <= values[name] <= high):
            raise ValueError(
                f"shapes {name} must be between {low:g} and {high:g} ({unit}), got {values[name]:g}"
            )
    if values["scale_min"] > values["scale_max"]:
        raise ValueError(
            f"shapes scale_min ({values['scale_min']:g}) must not exceed "
            f"scale_max ({values['scale_max']:g})"
        )
    return ShapesConfig(difficulty=cfg.difficulty, **values)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One generator per aspect, so changing one knob leaves everything else of an image alone."""
    names = ("geometry", "colour", "clutter", "occlusion", "noise", "order")
    return {name: np.random.default_rng([seed, i]) for i, name in enumerate(names)}


def _draws(n: int, knobs: ShapesConfig, rngs: dict[str, np.random.Generator]) -> dict[str, Any]:
    """Every random choice of the N images (drawn whole, before rendering in chunks)."""

    def rand(name: str, *shape: int) -> np.ndarray:
        return rngs[name].random(shape, dtype=np.float32)

    d: dict[str, Any] = {}
    d["radius"] = knobs.scale_min + (knobs.scale_max - knobs.scale_min) * rand("geometry", n)
    reach = np.maximum(0.0, 1 - 1.15 * d["radius"])  # keeps the shape inside (small ones)
    d["centre"] = (rand("geometry", n, 2) * 2 - 1) * reach[:, None]
    d["angle"] = (rand("geometry", n) * 2 - 1) * np.float32(math.radians(knobs.rotation))
    dark_bg = rand("colour", n) < 0.5
    fg_value = np.where(dark_bg, 0.75 + 0.25 * rand("colour", n), 0.1 + 0.35 * rand("colour", n))
    bg_value = np.where(dark_bg, 0.05 + 0.3 * rand("colour", n), 0.7 + 0.3 * rand("colour", n))
    d["fg"] = _hsv_to_rgb(rand("colour", n), 0.55 + 0.45 * rand("colour", n), fg_value)  # (N, 3)
    d["bg"] = _hsv_to_rgb(rand("colour", n), 0.5 * rand("colour", n), bg_value)
    # clutter: a smooth texture (4x4 random grid, upsampled) and short strokes of shape-like colour
    d["texture"] = (rand("clutter", n, 3, 4, 4) - 0.5) * np.float32(0.7 * knobs.clutter)
    d["stroke_on"] = rand("clutter", n, _STROKES) < knobs.clutter
    mid = rand("clutter", n, _STROKES, 2) * 2 - 1
    turn = rand("clutter", n, _STROKES) * np.float32(math.pi)
    half = 0.15 + 0.3 * rand("clutter", n, _STROKES)  # half-length, share of the half-side
    step = np.stack([np.cos(turn), np.sin(turn)], -1) * half[..., None]
    d["stroke_a"], d["stroke_b"] = mid - step, mid + step  # (N, K, 2) end points (x, y)
    d["stroke_width"] = 0.05 + 0.05 * rand("clutter", n, _STROKES)  # half-width, same unit
    hue = rand("clutter", n * _STROKES)  # strokes as bright or dark as the shape: confusable
    rgb = _hsv_to_rgb(hue, np.full_like(hue, 0.7), np.repeat(fg_value, _STROKES))
    d["stroke_rgb"] = rgb.reshape(n, _STROKES, 3)
    # occlusion: a background-coloured box over part of the shape (sides 30-55% of its diameter)
    d["occ_on"] = rand("occlusion", n) < knobs.occlusion
    d["occ_centre"] = d["centre"] + (rand("occlusion", n, 2) * 2 - 1) * 0.6 * d["radius"][:, None]
    d["occ_half"] = (0.3 + 0.25 * rand("occlusion", n, 2)) * d["radius"][:, None]
    return d


def _upsample_matrix(cells: int, size: int) -> np.ndarray:
    """(size, cells) bilinear weights: a (cells x cells) grid -> (size x size) by M @ g @ M.T."""
    pos = ((np.arange(size) + 0.5) / size * cells - 0.5).clip(0, cells - 1)
    eye = np.eye(cells, dtype=np.float32)
    return np.stack([np.interp(pos, np.arange(cells), eye[c]) for c in range(cells)], 1).astype(
        np.float32
    )


def _texture(grid: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(B, C, c, c) coarse grids -> (B, C, S, S) smooth fields, up @ grid @ up.T, as c broadcast
    multiply-adds: no BLAS call (its threads made this ~10x slower on a busy 2-core machine)."""
    cols = (grid[..., None] * up.T[None, None, None]).sum(3)  # (B, C, c, S): along the rows
    out = up[:, 0, None] * cols[:, :, 0, None, :]
    for a in range(1, grid.shape[2]):
        out += up[:, a, None] * cols[:, :, a, None, :]
    return out


def _coverage(sdf_px: np.ndarray) -> np.ndarray:
    """Signed distance in pixels (negative inside) -> coverage in [0, 1] with a 1-px edge ramp."""
    return np.clip(0.5 - sdf_px, 0, 1)


def _render(sl: slice, sdf: Any, d: dict[str, Any], t: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Images `sl` (all of one class) as float (B, 3, S, S) in [0, 1], before pixel noise."""
    size = len(t)
    px = size / 2  # pixels per unit of the half-side
    dx = t[None, None, :] - d["centre"][sl, 0, None, None]  # (B, 1, S)
    dy = t[None, :, None] - d["centre"][sl, 1, None, None]  # (B, S, 1)
    cos, sin = np.cos(d["angle"][sl])[:, None, None], np.sin(d["angle"][sl])[:, None, None]
    r = d["radius"][sl, None, None]
    u = (cos * dx + sin * dy) / r  # (B, S, S) shape-local coordinates
    v = (cos * dy - sin * dx) / r
    cover = _coverage(sdf(u, v) * (r * px))[:, None]  # (B, 1, S, S)
    background = d["bg"][sl, :, None, None] + _texture(d["texture"][sl], up)  # (B, 3, S, S)
    img = background
    xs, ys = t[None, None, :], t[None, :, None]
    for k in range(_STROKES):
        if not d["stroke_on"][sl, k].any():
            continue
        a, b = d["stroke_a"][sl, k], d["stroke_b"][sl, k]  # (B, 2)
        ab = b - a
        ax, ay = xs - a[:, 0, None, None], ys - a[:, 1, None, None]
        along = (ax * ab[:, 0, None, None] + ay * ab[:, 1, None, None]) / (
            (ab * ab).sum(1)[:, None, None] + 1e-6
        )
        along = np.clip(along, 0, 1)
        gap_x = ax - along * ab[:, 0, None, None]
        gap_y = ay - along * ab[:, 1, None, None]
        dist = np.sqrt(gap_x * gap_x + gap_y * gap_y) - d["stroke_width"][sl, k, None, None]
        on = d["stroke_on"][sl, k, None, None, None]
        ink = _coverage(dist * px)[:, None] * on  # (B, 1, S, S)
        rgb = d["stroke_rgb"][sl, k, :, None, None]
        img = img + (rgb - img) * ink
    img = img + (d["fg"][sl, :, None, None] - img) * cover
    if not d["occ_on"][sl].any():
        return img
    oc, oh = d["occ_centre"][sl], d["occ_half"][sl]  # (B, 2) centre, half-sides
    box = np.maximum(
        np.abs(xs - oc[:, 0, None, None]) - oh[:, 0, None, None],
        np.abs(ys - oc[:, 1, None, None]) - oh[:, 1, None, None],
    )
    hide = _coverage(box * px)[:, None] * d["occ_on"][sl, None, None, None]
    return img + (background - img) * hide


def make_shapes(
    num_images: int, size: int = 32, seed: int = 0, shapes: ShapesConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded coloured shapes: x uint8 (N, 3, size, size), y int64 (N,) balanced over SHAPE_CLASSES.

    Each image: one shape of random size, position, rotation and colour on a contrasting
    background, made harder by the knobs of `shapes` (default ShapesConfig(): the default level):
    background texture and stray strokes (clutter), a box hiding part of it (occlusion), Gaussian
    pixel noise. Labels are always right here (label noise is applied to the train split only, by
    the loader). Rendered from per-pixel shape coordinates and each class's signed distance
    (anti-aliased edges), in vectorised chunks of one class each.
    """
    knobs = shapes_knobs(shapes or ShapesConfig())
    rngs = _streams(seed)
    n, k = num_images, len(SHAPE_CLASSES)
    d = _draws(n, knobs, rngs)
    bounds = [round(c * n / k) for c in range(k + 1)]  # image i < bounds[c + 1] -> class <= c
    y = np.repeat(np.arange(k), np.diff(bounds))
    t = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    up = _upsample_matrix(4, size)
    noise_gen = torch.Generator().manual_seed(int(rngs["noise"].integers(2**62)))
    x = np.empty((n, 3, size, size), dtype=np.uint8)
    chunk = max(1, 2**16 // (size * size))  # images per step: ~0.5 MB temporaries, cache-sized
    for cls, sdf in enumerate(_SHAPE_SDFS):
        for start in range(bounds[cls], bounds[cls + 1], chunk):
            sl = slice(start, min(start + chunk, bounds[cls + 1]))
            img = _render(sl, sdf, d, t, up)
            if knobs.noise > 0:  # torch's normals: ~4x faster than numpy's here
                noise = torch.randn(img.shape, generator=noise_gen).numpy()
                img += noise * np.float32(knobs.noise)
            x[sl] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    order = rngs["order"].permutation(n)  # mix the classes (they were rendered class by class)
    return torch.from_numpy(x[order]), torch.from_numpy(y[order].astype(np.int64))


def preview_shapes(cfg: DataConfig, rows: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """`rows` rows of one image per class made with `cfg`'s knobs, size and seed (a small sample,
    not the set's own first images): x uint8 (rows * K, 3, S, S) row by row, y int64 labels."""
    k = len(SHAPE_CLASSES)
    x, y = make_shapes(rows * k, cfg.image_size or 32, cfg.seed, cfg.shapes)
    order = torch.argsort(y, stable=True).view(k, rows).T.reshape(-1)  # row r: class 0..K-1
    return x[order], y[order]


def flip_labels(y: torch.Tensor, share: float, seed: int, num_classes: int) -> torch.Tensor:
    """A copy of labels `y` (N,) with round(share * N) of them, picked at random, set to another
    class (uniform over the other classes): label noise. Deterministic for a seed."""
    rng = np.random.default_rng([seed, 99])
    out = y.clone()
    count = round(share * len(y))
    if count == 0 or num_classes < 2:
        return out
    picked = torch.from_numpy(rng.choice(len(y), size=count, replace=False))
    offset = torch.from_numpy(rng.integers(1, num_classes, size=count))  # 1..K-1: never the same
    out[picked] = (y[picked] + offset) % num_classes
    return out


def _cached_shapes(
    n: int, size: int, seed: int, knobs: ShapesConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """`make_shapes` through the on-disk tensor cache (keyed by every argument and knob): a
    training job then reads the set in ~0.05 s instead of generating it again (~0.3-0.8 s)."""
    path = cache_file("shapes", [], extra=f"{_GENERATOR_VERSION}|{n}|{size}|{seed}|{knobs!r}")
    cached = read_cache(path)
    if cached is not None and len(cached.y) == n:
        return cached.x, cached.y
    x, y = make_shapes(n, size, seed, knobs)
    write_cache(path, RawImages(list(SHAPE_CLASSES), x, y))
    return x, y


def _load_shapes(cfg: DataConfig, root: Path) -> RawImages:
    size = cfg.image_size or 32
    if not 8 <= size <= 256:
        raise ValueError(f"shapes image_size must be between 8 and 256 pixels, got {size}")
    if cfg.num_images < 3:
        raise ValueError(f"shapes needs num_images >= 3, got {cfg.num_images}")
    knobs = shapes_knobs(cfg.shapes)
    x, y = _cached_shapes(cfg.num_images, size, cfg.seed, knobs)
    notes, relabel = [shapes_summary(knobs)], None
    if knobs.label_noise > 0:
        notes.append(
            f"label noise: {knobs.label_noise:.0%} of the training labels are set to a wrong "
            "class on purpose; validation and test labels are right"
        )
        relabel = partial(
            flip_labels, share=knobs.label_noise, seed=cfg.seed, num_classes=len(SHAPE_CLASSES)
        )

    return RawImages(
        list(SHAPE_CLASSES),
        x,
        y,
        source=f"generated ({cfg.num_images} images, seed {cfg.seed}, "
        f"difficulty {knobs.difficulty})",
        notes=notes,
        title="" if size == 32 else f"Shapes (generated, {size}x{size} colour)",
        relabel_train=relabel,
    )


def shapes_summary(knobs: ShapesConfig) -> str:
    """One line naming the knobs of a resolved ShapesConfig (see `shapes_knobs`)."""
    return (
        f"shapes difficulty {knobs.difficulty}: pixel noise {knobs.noise:g}, "
        f"clutter {knobs.clutter:g}, size {knobs.scale_min:g}-{knobs.scale_max:g} of the "
        f"half-side, rotation ±{knobs.rotation:g}°, occlusion {knobs.occlusion:.0%} of images, "
        f"label noise {knobs.label_noise:.0%}"
    )


register_dataset(
    DatasetInfo(
        name="shapes",
        title="Shapes (generated, 32x32 colour)",
        description="generated here, no files needed; "
        "6 coloured shapes at random size, position and rotation, with a difficulty you set",
        offline=True,
        default_image_size=32,
        hflip_ok=True,
        download_bytes=0,
        augment=AugmentConfig(crop_padding=2, hflip=True),  # 2 px: shapes can sit near the border
        recipe=RunConfig(
            model=ModelConfig(name="fastnet"),
            augment=AugmentConfig(crop_padding=2, hflip=True),
            train=TrainConfig(
                optimizer="sgd",
                lr=0.2,
                epochs=4,
                batch_size=128,
                label_smoothing=0.1,
                weight_decay=5e-4,
            ),
        ),
        loader=_load_shapes,
        resizable=True,
    )
)
