"""jsonio.atomic_path: the one atomic-write helper (runs, caches): all or nothing, no temp left."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.jsonio import atomic_path, atomic_write_json, read_json


def test_atomic_path_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "w.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["w.bin"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    atomic_write_json(target, {"epochs": 3})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise RuntimeError("disk full")
    assert read_json(target) == {"epochs": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
