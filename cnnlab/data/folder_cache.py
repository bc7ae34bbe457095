"""The on-disk cache of decoded user folders and zips: one `folder-<key>.pt` per (source, size).

Bounded: after each write the oldest cache files go until the rest fit in `MAX_CACHE_BYTES`, so
uploads cannot fill the disk with decoded tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cnnlab.data.folder_layout import FolderImages
from cnnlab.jsonio import atomic_path

MAX_CACHE_BYTES = 2 * 2**30  # decoded folder caches kept on disk, all together


def load_cache(file: Path) -> FolderImages | None:
    """The cached result, or None when absent or unreadable (then it is rebuilt)."""
    if not file.is_file():
        return None
    try:
        data = torch.load(file, weights_only=True, map_location="cpu")
        os.utime(file)  # last used now: `prune` removes the least recently used first
        return FolderImages(
            class_names=[str(c) for c in data["class_names"]],
            train_x=data["train_x"],
            train_y=data["train_y"],
            test_x=data["test_x"],
            test_y=data["test_y"],
            skipped=[(str(f), str(r)) for f, r in data["skipped"]],
        )
    except Exception:  # truncated or foreign file: decode again
        return None


def save_cache(file: Path, images: FolderImages) -> None:
    """Write atomically (temp file + os.replace); a failed write only costs speed next time."""
    payload = {
        "class_names": images.class_names,
        "train_x": images.train_x,
        "train_y": images.train_y,
        "test_x": images.test_x,
        "test_y": images.test_y,
        "skipped": [list(item) for item in images.skipped],
    }
    try:
        with atomic_path(file) as tmp:
            torch.save(payload, tmp)
        prune(file.parent, keep=file)
    except OSError:
        pass


def prune(folder: Path, keep: Path, max_bytes: int = MAX_CACHE_BYTES) -> None:
    """Delete the least recently used `folder-*.pt` files until all fit in `max_bytes`."""
    files = []
    for f in folder.glob("folder-*.pt"):
        try:
            st = f.stat()
        except OSError:
            continue  # removed meanwhile by another session
        files.append((st.st_mtime, st.st_size, f))
    total = sum(size for _, size, _ in files)
    for _, size, f in sorted(files):  # oldest first
        if total <= max_bytes:
            break
        if f != keep:
            f.unlink(missing_ok=True)
            total -= size
