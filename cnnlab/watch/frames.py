"""Snapshot files in a run's snapshots folder: one compressed .npz per snapshot, named by step.

A snapshot is keyed by the optimiser step it was taken after (0 = the initial weights), so a
timeline is the files sorted by name, a resumed pass that retakes a step replaces its file
instead of adding a second one, and `drop_after(step)` removes what a pass recorded after the
checkpoint the next pass resumes from. Every file is written atomically (`jsonio.atomic_path`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.jsonio import atomic_path

FEATURES_FILE = "features.npz"  # the latest snapshot's penultimate features (float16), for t-SNE
ERROR_FILE = "error.txt"  # why snapshots stopped during a run (training went on without them)
_FRAME = re.compile(r"^s(\d{9})\.npz$")

KINDS = {"start": "initial weights", "early": "early in epoch 1", "epoch": "", "stopped": "stopped"}


@dataclass
class Frame:
    """One snapshot of a run (the arrays a kind does not record are None / empty)."""

    step: int  # optimiser steps done (0 = initial weights)
    epoch: float  # where in training, in epochs: step / steps per epoch (2.0 = end of epoch 2)
    kind: str  # start, early (inside epoch 1), epoch (an epoch's end), stopped (a partial epoch)
    val_acc: float | None = None  # the epoch's validation accuracy (epoch, stopped)
    seconds: float = 0.0  # what taking it cost the training process
    maps: list[np.ndarray] = field(default_factory=list)  # per layer uint8 (P, c, h, w)
    ranges: list[np.ndarray] = field(default_factory=list)  # per layer float32 (P, c, 2)
    probs: np.ndarray | None = None  # float32 (P, K) probe probabilities
    filters: np.ndarray | None = None  # float16 (F, C, k, k) first-layer kernels
    embed_xy: np.ndarray | None = None  # float32 (N, 2) PCA of the embedding points' features
    embed_pred: np.ndarray | None = None  # int16 (N,) predicted class per embedding point
    embed_conf: np.ndarray | None = None  # float16 (N,) its probability
    explained: np.ndarray | None = None  # float32 (2,) variance ratio of the two PCA axes

    @property
    def label(self) -> str:
        """'epoch 0 (initial weights)', 'epoch 0.25 (early in epoch 1)', 'epoch 3', ..."""
        number = f"{self.epoch:.2f}".rstrip("0").rstrip(".")
        note = KINDS.get(self.kind, "")
        return f"epoch {number}" + (f" ({note})" if note else "")


def frame_name(step: int) -> str:
    return f"s{step:09d}.npz"


def frame_steps(folder: Path) -> list[int]:
    """Steps of the snapshots in `folder`, in order ([] without a folder)."""
    try:
        names = [_FRAME.match(p.name) for p in folder.iterdir()]
    except OSError:
        return []
    return sorted(int(m.group(1)) for m in names if m)


def write_frame(folder: Path, frame: Frame) -> int:
    """Save `frame` (replacing one of the same step); returns the file's size in bytes."""
    meta = {k: getattr(frame, k) for k in ("step", "epoch", "kind", "val_acc", "seconds")}
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    for i, (maps, ranges) in enumerate(zip(frame.maps, frame.ranges, strict=True)):
        arrays[f"maps{i}"], arrays[f"ranges{i}"] = maps, ranges.astype(np.float32)
    for name in ("probs", "filters", "embed_xy", "embed_pred", "embed_conf", "explained"):
        value = getattr(frame, name)
        if value is not None:
            arrays[name] = value
    path = folder / frame_name(frame.step)
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        np.savez_compressed(out, **arrays)
    return path.stat().st_size


def read_frame(folder: Path, step: int) -> Frame | None:
    """The snapshot of `step`, or None when it is missing or damaged."""
    try:
        with np.load(folder / frame_name(step)) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {k: np.asarray(data[k]) for k in data.files if k != "meta"}
    except (OSError, KeyError, ValueError, EOFError):
        return None
    layers = sum(1 for k in arrays if k.startswith("maps"))
    frame = Frame(
        step=int(meta["step"]),
        epoch=float(meta["epoch"]),
        kind=str(meta["kind"]),
        val_acc=meta.get("val_acc"),
        seconds=float(meta.get("seconds") or 0.0),
        maps=[arrays[f"maps{i}"] for i in range(layers)],
        ranges=[arrays[f"ranges{i}"] for i in range(layers)],
    )
    for name in ("probs", "filters", "embed_xy", "embed_pred", "embed_conf", "explained"):
        setattr(frame, name, arrays.get(name))
    return frame


def drop_after(folder: Path, step: int) -> None:
    """Remove the snapshots (and the kept features) recorded after `step`."""
    for later in [s for s in frame_steps(folder) if s > step]:
        (folder / frame_name(later)).unlink(missing_ok=True)
    kept = read_features(folder)
    if kept is not None and kept[0] > step:
        (folder / FEATURES_FILE).unlink(missing_ok=True)


def clear(folder: Path) -> None:
    """Remove every snapshot file (a fresh start of the run)."""
    drop_after(folder, -1)
    (folder / FEATURES_FILE).unlink(missing_ok=True)
    (folder / ERROR_FILE).unlink(missing_ok=True)


def write_features(folder: Path, step: int, features: np.ndarray) -> None:
    with atomic_path(folder / FEATURES_FILE) as tmp, open(tmp, "wb") as out:
        np.savez_compressed(out, step=np.int64(step), features=features.astype(np.float16))


def read_features(folder: Path) -> tuple[int, np.ndarray] | None:
    """(step, float32 (N, D)) of the latest features kept, or None."""
    try:
        with np.load(folder / FEATURES_FILE) as data:
            return int(data["step"]), np.asarray(data["features"], dtype=np.float32)
    except (OSError, KeyError, ValueError, EOFError):
        return None


def write_error(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ERROR_FILE).write_text(text)


def read_error(folder: Path) -> str:
    try:
        return (folder / ERROR_FILE).read_text(errors="replace")[-2000:]
    except OSError:
        return ""
