"""Image datasets as whole uint8 tensors, split train/val/test, with the preprocessing they imply.

`load_dataset(DataConfig)` is the one entry point. Each registered dataset (`types.DATASETS`) has a
loader that returns `RawImages` (images, labels, and the official test split when the set has one);
`load_dataset` then makes the seeded, stratified splits and measures the per-channel mean/std of the
train split. The loaders live beside their registration: `shapes.py`, `digits.py`,
`torchvision_sets.py`, `user_images.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnlab.config import DataConfig, Preprocess
from cnnlab.data.types import DATASETS, DataSplit, ImageDataset, RawImages, data_root


def load_dataset(cfg: DataConfig, *, owner: str | None = None) -> ImageDataset:
    """Load `cfg.name` as resident tensors, split and described; see the module docstring.

    `owner`: who asks (a browser session id, later a user id). An upload (`cfg.path` starting with
    `upload:`) loads only for its owner; None = a trusted caller (the CLI, a training job).
    Raises DatasetUnavailable when files are missing and cannot be downloaded, ValueError for a
    bad config or a set too small to split (folder and upload errors are ValueErrors too).
    """
    info = DATASETS.get(cfg.name)
    if not (0 < cfg.val_fraction < 1 and 0 < cfg.test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be between 0 and 1 (exclusive)")
    if owner is not None:
        from cnnlab.data.uploads import check_owner

        check_owner(cfg.path, owner)
    raw = info.loader(cfg, data_root(cfg.root))
    notes = list(raw.notes)
    if cfg.image_size and not info.resizable and cfg.image_size != raw.x.shape[-1]:
        notes.append(f"image_size {cfg.image_size} ignored: {cfg.name} keeps its native size")
    train, val, test = _make_splits(raw, cfg, notes)
    if raw.relabel_train is not None:  # e.g. label noise: on train only, val and test stay right
        train = DataSplit(train.x, raw.relabel_train(train.y))
    if not cfg.patch.empty:  # a dataset version (cnnlab.data.patch): the files stay as they are
        from cnnlab.data.patch import apply_patch, summary

        train = apply_patch(train, cfg.patch, len(raw.class_names))
        notes.append(f"label patch {cfg.patch.name or summary(cfg.patch)!r}: {summary(cfg.patch)}")
    return ImageDataset(
        name=cfg.name,
        title=raw.title or info.title,
        class_names=list(raw.class_names),
        train=train,
        val=val,
        test=test,
        preprocess=compute_preprocess(train.x, style=info.preprocess_style),
        hflip_ok=info.hflip_ok,
        notes=notes,
        source=raw.source,
    )


def dataset_status(name: str, root: str | Path | None = None) -> tuple[bool, str]:
    """(available here?, why): checks that files exist, never reads or downloads them."""
    info = DATASETS.get(name)
    if info.status is None:
        return True, info.description.split(";")[0]
    return info.status(data_root(root))


def compute_preprocess(x: torch.Tensor, style: str = "photo") -> Preprocess:
    """Per-channel mean/std of uint8 images (N, C, H, W) in [0, 1] units, from 256-bin histograms.

    `style` is the dataset's (`DatasetInfo.preprocess_style`); for "digit" the digit box is
    measured on the images too (`digit_box`).
    """
    counts = torch.stack(
        [torch.bincount(x[:, c].reshape(-1), minlength=256) for c in range(x.shape[1])]
    )
    counts = counts.double()  # (C, 256)
    levels = torch.arange(256, dtype=torch.float64) / 255
    total = counts.sum(1).clamp_min(1)
    mean = counts @ levels / total
    var = (counts @ levels**2 / total - mean**2).clamp_min(0)
    std = var.sqrt().clamp_min(1 / 255)  # a constant channel must not divide by zero
    return Preprocess(
        input_shape=tuple(int(s) for s in x.shape[1:]),  # type: ignore[arg-type]
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        light_background=bool(mean.mean() > 0.5),
        style=style,
        digit_box=digit_box(x) if style == "digit" else 0,
    )


def digit_box(x: torch.Tensor, sample: int = 2000) -> int:
    """Pixels: the median longer side of the ink's bounding box over (up to `sample`) uint8
    images (N, C, H, W) of light strokes on black (MNIST: 20, the box its digits were fitted to)."""
    step = max(1, len(x) // sample)
    ink = x[::step].amax(1) > 50  # (n, H, W): clearly inked pixels (the faint anti-aliasing aside)
    rows, cols = ink.any(2), ink.any(1)  # (n, H), (n, W)
    sides = []
    for line in (rows, cols):
        idx = torch.arange(line.shape[1]).expand_as(line)
        first = torch.where(line, idx, line.shape[1]).amin(1)
        last = torch.where(line, idx, -1).amax(1)
        sides.append((last - first + 1).clamp_min(0))
    longer = torch.maximum(*sides)
    longer = longer[longer > 0]
    return int(longer.median()) if len(longer) else x.shape[-2]


# -- splits ---------------------------------------------------------------------------------------


def _make_splits(raw: RawImages, cfg: DataConfig, notes: list[str]) -> tuple[DataSplit, ...]:
    y = raw.y.numpy()
    if raw.test_x is None or raw.test_y is None:
        pool, test_idx = _pick(
            y, round(cfg.test_fraction * len(y)), cfg.seed, notes, "test", keep=2
        )
        test = DataSplit(_take(raw.x, test_idx), _take(raw.y, test_idx))
        notes.append(f"test: {len(test_idx)} images held out ({cfg.test_fraction:.0%} of {len(y)})")
    else:
        pool = np.arange(len(y))
        test = DataSplit(raw.test_x, raw.test_y)
        notes.append(f"test: the official test split ({len(test)} images)")
    rest, val_rel = _pick(
        y[pool], round(cfg.val_fraction * len(pool)), cfg.seed, notes, "validation"
    )
    train_idx, val_idx = pool[rest], pool[val_rel]
    notes.append(f"validation: {len(val_idx)} images carved from the training images")
    if 0 < cfg.limit < len(train_idx):
        _, kept = _pick(y[train_idx], cfg.limit, cfg.seed, notes, "limited training", keep=0)
        notes.append(f"training: kept {len(kept)} of {len(train_idx)} images (limit {cfg.limit})")
        train_idx = train_idx[kept]
    train = DataSplit(_take(raw.x, train_idx), _take(raw.y, train_idx))
    val = DataSplit(_take(raw.x, val_idx), _take(raw.y, val_idx))
    return train, val, test


def _take(t: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    """t[idx] as a new contiguous tensor (numpy's gather is ~4x faster than torch's here)."""
    return torch.from_numpy(t.numpy()[idx])


def _pick(
    y: np.ndarray, n_pick: int, seed: int, notes: list[str], what: str, keep: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, picked) with `n_pick` picked (at least 1, leaving at least `keep`).

    Stratified when every class can appear on both sides, else a plain shuffled split plus a
    warning in `notes`.
    """
    from sklearn.model_selection import train_test_split  # lazy: ~1 s of import time per process

    n = len(y)
    if n < keep + 1:
        raise ValueError(
            f"too few images ({n}) to make train, validation and test splits: "
            "need at least 3 (better: dozens per class)"
        )
    n_pick = min(max(1, n_pick), n - keep) if keep else min(max(1, n_pick), n)
    idx = np.arange(n)
    if n_pick == n:
        return idx[:0], np.random.default_rng(seed).permutation(n)
    counts = np.bincount(y)
    present = int((counts > 0).sum())
    smallest = int(counts[counts > 0].min())
    if smallest >= 2 and present <= n_pick <= n - present:
        try:
            rest, picked = train_test_split(idx, test_size=n_pick, random_state=seed, stratify=y)
            return rest, picked
        except ValueError:
            pass
    notes.append(
        f"warning: the {what} split is not stratified (smallest class: {smallest} image(s), "
        f"{present} classes, {n_pick} of {n} images picked); class proportions may differ"
    )
    rest, picked = train_test_split(idx, test_size=n_pick, random_state=seed, shuffle=True)
    return rest, picked
