"""The `shapes` dataset: seeded coloured shapes generated here (offline, any size from 8 to 256 px)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from cnnlab.config import AugmentConfig, DataConfig, ModelConfig, RunConfig, TrainConfig
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


def make_shapes(
    num_images: int, size: int = 32, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded coloured shapes: x uint8 (N, 3, size, size), y int64 (N,) balanced over SHAPE_CLASSES.

    Each image: one shape of random size (40-85% of the half-side), position, rotation and colour
    on a contrasting background, with pixel noise. Rendered from per-pixel shape coordinates and
    each class's signed distance (anti-aliased edges), in vectorised chunks of one class each.
    """
    rng = np.random.default_rng(seed)
    n, k = num_images, len(SHAPE_CLASSES)

    def rand(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=np.float32)

    radius = 0.4 + 0.45 * rand(n)  # in units of the half-side
    centre = (rand(n, 2) * 2 - 1) * (1 - 1.15 * radius)[:, None]  # keeps the shape inside
    angle = rand(n) * np.float32(2 * math.pi)
    dark_bg = rand(n) < 0.5
    fg_value = np.where(dark_bg, 0.75 + 0.25 * rand(n), 0.1 + 0.35 * rand(n))
    bg_value = np.where(dark_bg, 0.05 + 0.3 * rand(n), 0.7 + 0.3 * rand(n))
    fg = _hsv_to_rgb(rand(n), 0.55 + 0.45 * rand(n), fg_value)  # (N, 3)
    bg = _hsv_to_rgb(rand(n), 0.5 * rand(n), bg_value)
    bounds = [round(c * n / k) for c in range(k + 1)]  # image i < bounds[c + 1] -> class <= c
    y = np.repeat(np.arange(k), np.diff(bounds))

    t = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    x = np.empty((n, 3, size, size), dtype=np.uint8)
    chunk = max(1, 2**17 // (size * size))  # images per step: ~0.5 MB temporaries, cache-sized
    for cls, sdf in enumerate(_SHAPE_SDFS):
        for start in range(bounds[cls], bounds[cls + 1], chunk):
            sl = slice(start, min(start + chunk, bounds[cls + 1]))
            dx = t[None, None, :] - centre[sl, 0, None, None]  # (B, 1, S)
            dy = t[None, :, None] - centre[sl, 1, None, None]  # (B, S, 1)
            cos, sin = np.cos(angle[sl])[:, None, None], np.sin(angle[sl])[:, None, None]
            r = radius[sl, None, None]
            u = (cos * dx + sin * dy) / r  # (B, S, S) shape-local coordinates
            v = (cos * dy - sin * dx) / r
            pixels = sdf(u, v) * (r * (size / 2))  # signed distance in pixels
            cover = np.clip(0.5 - pixels, 0, 1)[:, None]  # 1 inside, 0 outside, 1-px edge ramp
            base = bg[sl, :, None, None]
            img = base + (fg[sl, :, None, None] - base) * cover  # (B, 3, S, S) in [0, 1]
            noise = rng.integers(-12, 13, size=img.shape, dtype=np.int8)  # about +-5%, uniform
            x[sl] = np.clip(img * 255 + 0.5 + noise, 0, 255).astype(np.uint8)
    order = rng.permutation(n)  # mix the classes (they were rendered class by class)
    return torch.from_numpy(x[order]), torch.from_numpy(y[order].astype(np.int64))


def _load_shapes(cfg: DataConfig, root: Path) -> RawImages:
    size = cfg.image_size or 32
    if not 8 <= size <= 256:
        raise ValueError(f"shapes image_size must be between 8 and 256 pixels, got {size}")
    if cfg.num_images < 3:
        raise ValueError(f"shapes needs num_images >= 3, got {cfg.num_images}")
    x, y = make_shapes(cfg.num_images, size, cfg.seed)
    return RawImages(
        list(SHAPE_CLASSES),
        x,
        y,
        source=f"generated ({cfg.num_images} images, seed {cfg.seed})",
        title="" if size == 32 else f"Shapes (generated, {size}x{size} colour)",
    )


register_dataset(
    DatasetInfo(
        name="shapes",
        title="Shapes (generated, 32x32 colour)",
        description="generated here, no files needed; "
        "6 coloured shapes at random size, position and rotation",
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
