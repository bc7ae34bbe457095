"""Dataset versions as label patches: relabel or drop training images when the dataset loads.

A `LabelPatch` (cnnlab/config.py) lives in `DataConfig.patch`, so every run's config.json says
which version of the training labels it trained on, and the original files are never touched.
Positions are into the *unpatched* train split (the seeded split of `load_dataset`), and each
relabel records the label it replaces: a patch applied to another split (other seed, fractions
or limit) is refused with a message instead of silently relabelling the wrong images.

A patch may come from someone else (a patch file, an imported run), so `read_patch` and
`apply_patch` check it as untrusted input: size and entry caps, types and ranges (cnnlab.schema),
positions in range and unique, old labels matching, new classes that exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cnnlab.config import LabelPatch, Relabel
from cnnlab.data.types import DataSplit

MAX_PATCH_BYTES = 2 * 2**20  # a patch file (the run zip's cap for a config.json)
MAX_PATCH_ENTRIES = 20_000  # relabels + drops: keeps config.json small (about 40 bytes each)


class PatchError(ValueError):
    """A label patch that cannot be read or does not fit the dataset; the message says why."""


def read_patch(source: str | Path | bytes) -> LabelPatch:
    """A LabelPatch from a JSON file's path or bytes (a bare patch object, or a run's whole
    config.json, whose `data.patch` is taken), checked; PatchError names what is wrong."""
    from cnnlab.schema import ConfigError, build

    if isinstance(source, bytes):
        data, where = source, "the patch"
    else:
        where = str(source)
        try:
            if Path(source).stat().st_size > MAX_PATCH_BYTES:
                raise PatchError(f"{where}: larger than {MAX_PATCH_BYTES // 2**20} MB")
            data = Path(source).read_bytes()
        except OSError as exc:
            raise PatchError(f"{where}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_PATCH_BYTES:
        raise PatchError(f"{where}: larger than {MAX_PATCH_BYTES // 2**20} MB")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PatchError(f"{where}: not JSON ({exc})") from exc
    if isinstance(obj, dict) and isinstance(obj.get("data"), dict) and "patch" in obj["data"]:
        obj = obj["data"]["patch"]  # a run's config.json
    if not isinstance(obj, dict):
        raise PatchError(f"{where}: expected a JSON object with relabel/drop lists")
    try:
        patch = build(LabelPatch, obj)
    except ConfigError as exc:
        raise PatchError(f"{where}: " + "; ".join(exc.problems)) from exc
    check_patch(patch)
    return patch


def check_patch(
    patch: LabelPatch, labels: torch.Tensor | None = None, num_classes: int = 0
) -> None:
    """PatchError unless `patch` is well formed; with the unpatched train `labels` (N,) and the
    class count, also unless it fits them (same split size, old labels, classes that exist)."""
    entries = len(patch.relabel) + len(patch.drop)
    if entries > MAX_PATCH_ENTRIES:
        raise PatchError(f"the patch has {entries} entries; at most {MAX_PATCH_ENTRIES} allowed")
    if patch.empty:
        return
    if patch.train_size < 1:
        raise PatchError("the patch has no train_size (the training-split size it was made for)")
    positions = [r.index for r in patch.relabel] + list(patch.drop)
    if len(set(positions)) != len(positions):
        raise PatchError(
            "the patch names an image twice (each image is relabelled or dropped once)"
        )
    bad = [p for p in positions if not 0 <= p < patch.train_size]
    if bad:
        raise PatchError(f"image position {bad[0]} is outside 0..{patch.train_size - 1}")
    same = [r.index for r in patch.relabel if r.old == r.new]
    if same:
        raise PatchError(f"image {same[0]} is 'relabelled' to the label it already has")
    if len(patch.drop) >= patch.train_size:
        raise PatchError("the patch drops every training image")
    if labels is None:
        return
    if len(labels) != patch.train_size:
        raise PatchError(
            f"this label patch was made for a training split of {patch.train_size} images, but "
            f"this one has {len(labels)}: use the dataset settings it was made with (seed, "
            "validation/test fractions, limit)"
        )
    for r in patch.relabel:
        if int(labels[r.index]) != r.old:
            raise PatchError(
                f"image {r.index} has label {int(labels[r.index])} here, the patch expects "
                f"{r.old}: it was made for another split of the data (same settings needed)"
            )
        if not 0 <= r.new < num_classes:
            raise PatchError(f"image {r.index}: class {r.new} does not exist ({num_classes})")


def kept_positions(patch: LabelPatch, train_size: int) -> np.ndarray:
    """(M,) int64: the unpatched positions the patched train split keeps, in order."""
    keep = np.ones(train_size, dtype=bool)
    keep[list(patch.drop)] = False
    return np.flatnonzero(keep)


def apply_patch(train: DataSplit, patch: LabelPatch, num_classes: int) -> DataSplit:
    """The patched train split (a new one: `train` is never modified); PatchError if it does
    not fit. An empty patch returns `train` itself."""
    check_patch(patch, train.y, num_classes)
    if patch.empty:
        return train
    y = train.y.clone()
    for r in patch.relabel:
        y[r.index] = r.new
    keep = torch.from_numpy(kept_positions(patch, len(y)))
    return DataSplit(train.x[keep].contiguous(), y[keep].contiguous())


def source_labels(patch: LabelPatch, labels: np.ndarray) -> np.ndarray:
    """(N,) the unpatched train labels, from the patched split's `labels` (M,) and the patch
    (dropped images get -1: the patched split no longer holds them)."""
    original = np.full(patch.train_size or len(labels), -1, dtype=np.int64)
    original[kept_positions(patch, len(original))] = labels
    for r in patch.relabel:
        original[r.index] = r.old
    return original


def compose(
    base: LabelPatch,
    labels: np.ndarray,
    relabel: Mapping[int, int],
    drop: set[int] | frozenset[int],
    *,
    name: str = "",
    base_run: str = "",
) -> LabelPatch:
    """A new patch = `base` plus changes made on the patched split: `labels` (M,) its labels,
    `relabel` {patched position: new class}, `drop` {patched position}. Relabelling an image back
    to its original class removes the entry; the result is relative to the original split."""
    original = source_labels(base, labels)
    kept = kept_positions(base, len(original))  # patched position -> unpatched position
    fixes = {r.index: r.new for r in base.relabel}
    for pos, new in relabel.items():
        fixes[int(kept[pos])] = int(new)
    drops = set(base.drop) | {int(kept[pos]) for pos in drop}
    entries = tuple(
        Relabel(i, int(original[i]), new)
        for i, new in sorted(fixes.items())
        if i not in drops and new != original[i]
    )
    patch = LabelPatch(
        name=name, base_run=base_run, train_size=len(original), relabel=entries,
        drop=tuple(sorted(drops)),
    )  # fmt: skip
    if not patch.name:
        patch = LabelPatch(**{**patch.__dict__, "name": summary(patch)})
    check_patch(patch)
    return patch


def summary(patch: LabelPatch) -> str:
    """ "12 relabelled, 3 dropped" ("original labels" for an empty patch)."""
    if patch.empty:
        return "original labels"
    return f"{len(patch.relabel)} relabelled, {len(patch.drop)} dropped"


def changes_frame(patch: LabelPatch, class_names: list[str]) -> pd.DataFrame:
    """The change list, one row per image: position (unpatched train split), change, from, to."""

    def name(k: int) -> str:
        return class_names[k] if 0 <= k < len(class_names) else str(k)

    rows = [
        {"image": r.index, "change": "relabelled", "from": name(r.old), "to": name(r.new)}
        for r in patch.relabel
    ] + [{"image": i, "change": "dropped", "from": "", "to": ""} for i in patch.drop]
    frame = pd.DataFrame(rows, columns=["image", "change", "from", "to"])
    return frame.sort_values("image", kind="stable").reset_index(drop=True)


def patch_dict(patch: LabelPatch) -> dict:
    """The patch as JSON-ready data (what `read_patch` reads back)."""
    from cnnlab.config import to_dict

    return to_dict(patch)
