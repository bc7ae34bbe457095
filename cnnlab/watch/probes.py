"""Which validation images a run watches: the probes (filmstrip) and the embedding points.

Both are chosen once per run with a fixed seed (the run's seed, through its own numpy generator:
the training generator is never touched) and saved in the run's snapshots folder, so a resumed
pass watches the same images. The probes' pictures are saved too (at most PROBE_SIDE pixels a
side), so the filmstrip shows without loading the dataset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.jsonio import atomic_path, atomic_write_json, read_dict

PLAN_FILE = "plan.json"  # Plan (indices, layers, sizes)
PROBES_FILE = "probes.npz"  # the probe pictures, uint8 (P, C, h, w)

MAX_PROBES = 24  # probes in all: many classes get one probe each for a random subset of classes
PROBE_SIDE = 64  # pixels: larger probe pictures are stored downsampled (area average)
# Embedding points per epoch cost forward passes: at most this share of one epoch's training
# images (a training image costs ~3 forward passes, so 0.06 keeps them near 2% of the epoch) ...
EMBED_SHARE = 0.06
MIN_EMBED_POINTS = 100  # ... but never fewer than this (tiny datasets), nor more than asked


@dataclass(frozen=True)
class Plan:
    """What a run's snapshots record; saved as plan.json beside them."""

    seed: int
    val_size: int  # images in the validation split the indices point into
    probe_indices: list[int]  # positions in the validation split, grouped by class
    probe_labels: list[int]
    embed_indices: list[int]  # positions in the validation split (sorted)
    embed_labels: list[int]
    class_names: list[str]
    steps_per_epoch: int = 0
    layers: list[str] = field(default_factory=list)  # conv layers whose maps are kept
    layer_channels: list[int] = field(default_factory=list)  # channels each layer has in all
    channels: int = 0  # channels kept per layer (the first ones)
    map_sizes: list[list[int]] = field(default_factory=list)  # stored (h, w) per layer

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan | None:
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError:  # a damaged or foreign file: the caller chooses again
            return None


def choose_probes(
    labels: np.ndarray, num_classes: int, per_class: int, seed: int, cap: int = MAX_PROBES
) -> np.ndarray:
    """Validation positions of `per_class` random images per class (fewer when that would pass
    `cap`: one each for `cap` random classes when there are more classes than that), grouped by
    class in class order. Classes with fewer images give what they have."""
    if per_class <= 0 or num_classes <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    per = max(1, min(per_class, cap // num_classes))
    classes = np.arange(num_classes)
    if num_classes * per > cap:
        classes = np.sort(rng.choice(num_classes, cap // per, replace=False))
    chosen = []
    for k in classes:
        members = np.flatnonzero(labels == k)
        if len(members):
            chosen.append(np.sort(rng.choice(members, min(per, len(members)), replace=False)))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def embed_count(asked: int, val_size: int, train_size: int) -> int:
    """How many validation images to project per epoch (see EMBED_SHARE)."""
    if asked <= 0:
        return 0
    budget = max(MIN_EMBED_POINTS, int(EMBED_SHARE * train_size))
    return max(0, min(asked, val_size, budget))


def choose_embedding(val_size: int, count: int, seed: int) -> np.ndarray:
    """`count` random validation positions, sorted (a generator of its own, seed + 1)."""
    rng = np.random.default_rng(seed + 1)
    return np.sort(rng.choice(val_size, count, replace=False)) if count else np.zeros(0, int)


def thumbnails(x: torch.Tensor, side: int = PROBE_SIDE) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 with the longer side at most `side` (area average)."""
    longer = max(x.shape[-2:]) if x.ndim == 4 else 0
    if longer <= side:
        return x.clone()
    size = (max(1, x.shape[-2] * side // longer), max(1, x.shape[-1] * side // longer))
    return F.adaptive_avg_pool2d(x.float(), size).round().clamp(0, 255).to(torch.uint8)


def save_plan(folder: Path, plan: Plan, probe_images: torch.Tensor | None = None) -> None:
    """plan.json (and the probe pictures, when given), each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    if probe_images is not None:
        with atomic_path(folder / PROBES_FILE) as tmp, open(tmp, "wb") as out:
            np.savez_compressed(out, images=thumbnails(probe_images).numpy())
    atomic_write_json(folder / PLAN_FILE, asdict(plan))


def load_plan(folder: Path) -> Plan | None:
    """The saved plan, or None (no snapshots yet, or a damaged file)."""
    return Plan.from_dict(read_dict(folder / PLAN_FILE))


def load_probe_images(folder: Path) -> np.ndarray | None:
    """The probe pictures uint8 (P, C, h, w), or None."""
    try:
        with np.load(folder / PROBES_FILE) as data:
            return np.asarray(data["images"])
    except (OSError, KeyError, ValueError):
        return None
