"""A decoded dataset's tensors cached as one `.pt` file, keyed by its source files' size and mtime
(or, for a generated set, by everything it is generated from).

Reading MNIST's idx files takes ~1-2 s; the cached tensors load in ~0.3 s. Writes are atomic and a
read-only cache folder only costs speed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from cnnlab.config import default_cache_dir
from cnnlab.data.types import RawImages
from cnnlab.jsonio import atomic_path


def cache_file(name: str, files: list[Path], extra: str = "") -> Path:
    """The cache path for `name`, keyed by the source files' paths, sizes and mtimes, and by
    `extra` (what else the tensors depend on: a generated set's size, seed and knobs)."""
    key = hashlib.sha256(f"cnnlab-datasets-v1|{name}|{extra}".encode())
    for f in files:
        st = f.stat()
        key.update(f"|{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return default_cache_dir() / "datasets" / f"{name}-{key.hexdigest()[:16]}.pt"


def read_cache(path: Path) -> RawImages | None:
    try:
        d = torch.load(path, weights_only=True)
        raw = RawImages(
            list(d["class_names"]), d["x"], d["y"], d["test_x"], d["test_y"], d["source"]
        )
    except Exception:  # missing, partial or from an incompatible version: rebuild it
        return None
    tensors = (raw.x, raw.y) + ((raw.test_x, raw.test_y) if raw.test_x is not None else ())
    if not all(isinstance(t, torch.Tensor) for t in tensors) or raw.x.dtype != torch.uint8:
        return None
    if (raw.test_x is None) != (raw.test_y is None):  # a test split has images and labels
        return None
    return raw


def write_cache(path: Path, raw: RawImages) -> None:
    """Atomic (jsonio.atomic_path) write; removes older caches of the same dataset."""
    payload = {
        "class_names": raw.class_names,
        "x": raw.x,
        "y": raw.y,
        "test_x": raw.test_x,
        "test_y": raw.test_y,
        "source": raw.source,
    }
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        for old in path.parent.glob(f"{path.stem.rsplit('-', 1)[0]}-*.pt"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache folder only costs speed
