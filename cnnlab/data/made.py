"""Datasets made in the browser: ordinary dataset folders, one per dataset, that anyone may add to.

On disk (under `made_root()`: env `CNNLAB_DATASETS`, default `<data root>/made`):

    <root>/<dataset>/.made.json               owner, contributors' display names (hidden: the
    <root>/<dataset>/.lock                     folder loader ignores dot files)
    <root>/<dataset>/<class>/<user_id>--<16 hex>.png

That is the `<class>/<image>` layout the `folder` dataset reads, so a made dataset trains at once
as `DataConfig(name="folder", path=<its folder>)` (`data_config`); the folder decode cache is keyed
by the files' names, sizes and mtimes, so every added, moved or deleted sample is seen.

Safety: names pass `made_names.clean_name`; every resolved path is checked to stay inside the
dataset folder (`inside`); samples are written atomically with unique names (two browsers adding
at once lose nothing and tear nothing); class renames/removals, manifest updates and the cap
checks of an add run under an fcntl lock on `.lock` (`locked`).
Access (`actor`: an `Identity`, None = a trusted caller such as the CLI or a test): the owner and
the teacher (the single-user lab's `LOCAL` is a teacher) may do anything; others may add samples
to a *shared* dataset (the class dataset, `cnnlab.classroom.class_dataset`) and delete or move
their own samples only (`made_samples.py`).
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlab.classroom.identity import Identity
from cnnlab.config import DataConfig, default_data_root
from cnnlab.data.archive import has_image_extension, is_ignored_name
from cnnlab.data.made_names import MadeError, check_user_id, clean_name, name_key
from cnnlab.jsonio import atomic_write_json, read_dict
from cnnlab.runs.access import AccessDenied

DATASETS_ENV = "CNNLAB_DATASETS"
MANIFEST = ".made.json"
LOCK = ".lock"
MAX_CLASSES = 30  # classes per dataset
MIN_SAMPLES = 3  # per class before training: fewer cannot make train, validation and test splits
IMAGE_SIZE = 64  # pixels: the side a made dataset trains at by default (the folder default)


@dataclass(frozen=True)
class MadeDataset:
    name: str  # = its folder's name
    path: Path  # resolved folder
    owner_id: str  # user id of who made it ("local" in the single-user lab)
    owner_name: str  # display name at the time
    shared: bool  # the class dataset: every student may add samples


@dataclass(frozen=True)
class ClassInfo:
    name: str  # = the class folder's name
    count: int  # image files in it


def made_root() -> Path:
    """Where made datasets live: env CNNLAB_DATASETS, else `<data root>/made`."""
    env = os.environ.get(DATASETS_ENV)
    return (Path(env).expanduser() if env else default_data_root() / "made").resolve()


def inside(base: Path, *parts: str) -> Path:
    """`base/parts...` resolved, or MadeError when it would leave `base` (links resolved too)."""
    base = base.resolve()
    path = base.joinpath(*parts).resolve()
    if path == base or not path.is_relative_to(base):
        raise MadeError("That name would point outside the dataset folder: choose another.")
    return path


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive fcntl lock on `folder/.lock` (between processes and between threads)."""
    with open(folder / LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# -- datasets ---------------------------------------------------------------------------------
def create_dataset(name: str, actor: Identity | None, root: Path | None = None) -> MadeDataset:
    """A new empty dataset owned by `actor`; MadeError for a bad or taken name."""
    root = root or made_root()
    name = clean_name(name, "dataset")
    root.mkdir(parents=True, exist_ok=True)
    with locked(root):
        if any(name_key(d.name) == name_key(name) for d in _folders(root)):
            raise MadeError(
                f"A dataset named '{name}' exists already: pick it, or choose another name."
            )
        path = inside(root, name)
        path.mkdir()
        owner_id = check_user_id(actor.user_id) if actor else "local"
        manifest = {
            "owner": owner_id,
            "owner_name": actor.name if actor else "",
            "created": time.time(),
        }
        atomic_write_json(path / MANIFEST, manifest | {"contributors": {}, "shared": False})
    return open_dataset(name, root)


def open_dataset(name: str, root: Path | None = None) -> MadeDataset:
    """An existing dataset by name; MadeError when there is none."""
    root = root or made_root()
    path = inside(root, clean_name(name, "dataset"))
    if not (path / MANIFEST).is_file():
        raise MadeError(f"There is no made dataset named '{name}' (it may have been deleted).")
    manifest = read_dict(path / MANIFEST)
    return MadeDataset(
        name=path.name,
        path=path,
        owner_id=str(manifest.get("owner", "local")),
        owner_name=str(manifest.get("owner_name", "")),
        shared=bool(manifest.get("shared", False)),
    )


def list_datasets(actor: Identity | None = None, root: Path | None = None) -> list[MadeDataset]:
    """The made datasets `actor` may see (own, shared, or all for the teacher), sorted by name."""
    root = root or made_root()
    found = []
    for folder in _folders(root):
        try:
            ds = open_dataset(folder.name, root)
        except MadeError:
            continue  # not a made dataset (no manifest) or an unusable folder name
        if actor is None or actor.is_teacher or ds.shared or ds.owner_id == actor.user_id:
            found.append(ds)
    return sorted(found, key=lambda d: name_key(d.name))


def delete_dataset(ds: MadeDataset, actor: Identity | None) -> None:
    check_owner(ds, actor, "delete this dataset")
    with locked(ds.path.parent):
        shutil.rmtree(inside(ds.path.parent, ds.name))


def set_shared(ds: MadeDataset, shared: bool) -> MadeDataset:
    """Mark the dataset shared (every signed-in user may add samples) or not."""
    update_manifest(ds, lambda m: m | {"shared": shared})
    return open_dataset(ds.name, ds.path.parent)


def update_manifest(ds: MadeDataset, change: object) -> None:
    """Rewrite `.made.json` as `change(old dict) -> new dict`, under the dataset's lock."""
    with locked(ds.path):
        old = read_dict(ds.path / MANIFEST)
        atomic_write_json(ds.path / MANIFEST, change(old))  # type: ignore[operator]


def manifest(ds: MadeDataset) -> dict:
    return read_dict(ds.path / MANIFEST)


def check_owner(ds: MadeDataset, actor: Identity | None, action: str) -> None:
    """AccessDenied unless `actor` is trusted (None), the teacher or the dataset's owner."""
    if actor is None or actor.is_teacher or actor.user_id == ds.owner_id:
        return
    who = f"{ds.owner_name} (who made it)" if ds.owner_name else "the person who made it"
    raise AccessDenied(f"You cannot {action}: only {who} or the teacher can.")


def _folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [
        p
        for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    ]


# -- classes ----------------------------------------------------------------------------------
def classes(ds: MadeDataset) -> list[ClassInfo]:
    """Every class folder with its number of images, sorted like the folder loader sorts them."""
    found = []
    for folder in sorted(_folders(ds.path), key=lambda p: p.name):
        count = sum(1 for f in folder.iterdir() if is_sample(f))
        found.append(ClassInfo(folder.name, count))
    return found


def is_sample(file: Path) -> bool:
    return (
        file.is_file()
        and not file.is_symlink()
        and not is_ignored_name(file.name)
        and (has_image_extension(file.name))
    )


def class_path(ds: MadeDataset, name: str) -> Path:
    """The folder of an existing class; MadeError when there is none."""
    path = inside(ds.path, clean_name(name))
    if not path.is_dir() or path.is_symlink():
        raise MadeError(f"There is no class '{name}' in {ds.name} (it may have been removed).")
    return path


def add_class(ds: MadeDataset, name: str, actor: Identity | None) -> str:
    """Create an empty class; its cleaned name. MadeError for a bad or duplicate name."""
    check_owner(ds, actor, "add classes to this dataset")
    name = clean_name(name)
    with locked(ds.path):
        existing = classes(ds)
        _check_free(existing, name)
        if len(existing) >= MAX_CLASSES:
            raise MadeError(f"A dataset has at most {MAX_CLASSES} classes: remove one first.")
        inside(ds.path, name).mkdir()
    return name


def rename_class(ds: MadeDataset, old: str, new: str, actor: Identity | None) -> str:
    """Rename a class folder (one atomic rename: its samples go with it); the new name."""
    check_owner(ds, actor, "rename classes of this dataset")
    new = clean_name(new)
    with locked(ds.path):
        source = class_path(ds, old)
        others = [c for c in classes(ds) if c.name != source.name]
        _check_free(others, new)
        os.rename(source, inside(ds.path, new))  # same name in another case: still one rename
    return new


def remove_class(ds: MadeDataset, name: str, actor: Identity | None) -> int:
    """Delete a class and its samples; how many samples went."""
    check_owner(ds, actor, "remove classes of this dataset")
    with locked(ds.path):
        path = class_path(ds, name)
        count = sum(1 for f in path.iterdir() if is_sample(f))
        # Renamed away first (atomic): a loader never sees a half-deleted class.
        trash = ds.path / f".removed-{os.urandom(6).hex()}"
        os.rename(path, trash)
        shutil.rmtree(trash)
    return count


def _check_free(existing: list[ClassInfo], name: str) -> None:
    for c in existing:
        if name_key(c.name) == name_key(name):
            raise MadeError(f"There is a class '{c.name}' already: choose another name.")


# -- training ---------------------------------------------------------------------------------
def check_trainable(ds: MadeDataset) -> list[ClassInfo]:
    """The classes, or MadeError saying what to add before the dataset can train."""
    found = classes(ds)
    if len(found) < 2:
        raise MadeError(
            f"{ds.name} has {len(found)} class(es): a classifier needs at least 2. "
            "Add another class and some samples of it."
        )
    for c in found:
        if c.count == 0:
            raise MadeError(f"class {c.name} has no samples: add some or remove it")
        if c.count < MIN_SAMPLES:
            raise MadeError(
                f"class {c.name} has {c.count} sample(s): add at least {MIN_SAMPLES} "
                "(training, validation and test each need some)"
            )
    return found


MIN_STEPS = 120  # optimiser steps a first run should take: fewer leave batch-norm unsettled


def train_suggestion(ds: MadeDataset, train_share: float = 0.7) -> dict[str, int]:
    """Batch size and epochs for a first run on a small made dataset (Train form fields).

    The folder recipe's 10 epochs of 64 are ~10 steps for 40 samples: training accuracy reaches
    1.0 while test accuracy stays at chance (the batch-norm statistics have not settled; seen in
    tests/test_browser_made_e2e.py). Batches of 16 and enough epochs for ~120 steps (10-60
    epochs) train such a set in seconds."""
    images = sum(c.count for c in classes(ds))
    batch = 16 if images < 2000 else 64
    steps_per_epoch = max(1, math.ceil(images * train_share / batch))
    return {"batch_size": batch, "epochs": min(60, max(10, math.ceil(MIN_STEPS / steps_per_epoch)))}


def data_config(ds: MadeDataset, image_size: int = IMAGE_SIZE) -> DataConfig:
    """The config that trains on `ds`: the `folder` dataset over its folder."""
    return DataConfig(name="folder", path=str(ds.path), image_size=image_size)


def dataset_of(cfg: DataConfig, root: Path | None = None) -> MadeDataset | None:
    """The made dataset a config trains on, or None (another dataset)."""
    root = root or made_root()
    if cfg.name != "folder" or not cfg.path:
        return None
    path = Path(cfg.path)
    if path.parent != root:
        return None
    try:
        return open_dataset(path.name, root)
    except MadeError:
        return None
