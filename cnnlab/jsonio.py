"""Atomic, JSON-safe file I/O shared by everything that writes to disk (runs, caches, datasets).

Readers in other processes (the app polls run folders while a job writes them) must see the old
file or the new one, never half of one: every write goes to a temporary file in the same folder,
is fsynced, then `os.replace`d over the target (`atomic_path`, the one place that does it).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file next to `path` to write (by name: torch.save, safetensors, ...); on a
    clean exit it is fsynced and `os.replace`d over `path`, on an exception removed.

    Readers see the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone already after os.replace


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old or the new file, never half of one."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def clean(value: Any) -> Any:
    """JSON-safe plain values: numpy/torch scalars to floats/ints, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:  # numpy and one-element torch scalars
            value = value.item()
        except (TypeError, ValueError, RuntimeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """`obj` as strict JSON (no NaN tokens: they become null)."""
    return json.dumps(clean(obj), indent=indent, allow_nan=False)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, dumps(obj, indent=1).encode())


def read_json(path: Path, default: Any = None) -> Any:
    """The parsed file, or `default` when it is missing or not valid JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def read_dict(path: Path) -> dict[str, Any]:
    """A JSON object file as a dict; {} when missing, damaged or not an object."""
    value = read_json(path)
    return value if isinstance(value, dict) else {}
