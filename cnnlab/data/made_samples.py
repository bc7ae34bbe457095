"""The samples of a made dataset (`made.py`): add, list, delete, move, remove a contributor, zip.

A sample is `<class>/<user_id>--<16 random hex>.png`: the name says who contributed it, and two
browsers adding at once never pick the same name. Every input (an upload's bytes, a camera shot,
a drawing, a video frame) is decoded with `images.open_image` (the one safe decoder), shrunk to
fit `MAX_SIDE` pixels, re-encoded as PNG and written atomically (`jsonio.atomic_write_bytes`).

Caps, said in `AddResult.message`: at most `MAX_BURST` images per add (a burst of thousands of
frames keeps its first 200), `MAX_PER_CLASS` per class and `MAX_PER_DATASET` per dataset.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from cnnlab.classroom.identity import Identity
from cnnlab.data.images import MAX_PIXELS, ImageError, open_image
from cnnlab.data.made import (
    MANIFEST,
    MadeDataset,
    check_owner,
    class_path,
    classes,
    inside,
    is_sample,
    locked,
)
from cnnlab.data.made_names import MadeError, check_user_id
from cnnlab.jsonio import atomic_write_bytes, atomic_write_json, read_dict
from cnnlab.runs.access import AccessDenied

MAX_BURST = 200  # images per add: a hold-to-record burst of 40 s at 5 frames/s
MAX_PER_CLASS = 1000
MAX_PER_DATASET = 5000
MAX_SIDE = 256  # pixels: stored samples fit this square (models train at 16-128 px)
SAMPLE = re.compile(r"(?P<user>[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*)--[0-9a-f]{16}\.png")
ImageInput = Image.Image | bytes


@dataclass(frozen=True)
class Sample:
    class_name: str
    name: str  # file name inside the class folder
    path: Path
    contributor: str  # user id from the file name ("" when the file was not made here)


@dataclass(frozen=True)
class AddResult:
    added: tuple[str, ...]  # file names written
    refused: tuple[tuple[str, str], ...]  # (label, why) of inputs that are not images
    left_out: int  # inputs past a cap
    message: str  # what happened, for people ("Added 12 samples to cat. ...")


def contributor_of(name: str) -> str:
    match = SAMPLE.fullmatch(name)
    return match["user"] if match else ""


def may_add(ds: MadeDataset, actor: Identity | None) -> bool:
    return actor is None or actor.is_teacher or ds.shared or actor.user_id == ds.owner_id


def add_samples(
    ds: MadeDataset,
    class_name: str,
    images: Sequence[ImageInput | tuple[str, ImageInput]],
    actor: Identity | None,
) -> AddResult:
    """Add images (optionally labelled `(label, image)`) to a class; see the module docstring.

    Raises MadeError for an unknown class or when nothing fits, AccessDenied when `actor` may not
    add to this dataset. Inputs that are not images are listed in `refused`; nothing is written
    for them.
    """
    if not may_add(ds, actor):
        raise AccessDenied(
            f"You cannot add samples to {ds.name}: it is not yours and not the class dataset."
        )
    user = check_user_id(actor.user_id) if actor else "local"
    labelled = [
        item if isinstance(item, tuple) else (f"image {i + 1}", item)
        for i, item in enumerate(images)
    ]
    notes = []
    if len(labelled) > MAX_BURST:
        notes.append(
            f"{len(labelled) - MAX_BURST} were left out: one add takes at most {MAX_BURST}"
        )
    kept, left_out = labelled[:MAX_BURST], max(0, len(labelled) - MAX_BURST)
    encoded, refused = _encode_all(kept)
    with locked(ds.path):
        folder = class_path(ds, class_name)
        total = sum(c.count for c in classes(ds))
        in_class = sum(1 for f in folder.iterdir() if is_sample(f))
        room = max(0, min(MAX_PER_CLASS - in_class, MAX_PER_DATASET - total))
        if len(encoded) > room:
            cap = "class" if MAX_PER_CLASS - in_class <= MAX_PER_DATASET - total else "dataset"
            limit = MAX_PER_CLASS if cap == "class" else MAX_PER_DATASET
            notes.append(
                f"{len(encoded) - room} did not fit: a {cap} holds at most {limit} samples"
            )
            left_out += len(encoded) - room
            encoded = encoded[:room]
        added = tuple(_write(folder, user, png) for png in encoded)
        if actor is not None and added:
            _note_contributor(ds, actor)
    if not added and not refused and left_out:
        raise MadeError(f"Nothing was added to {folder.name}: " + "; ".join(notes) + ".")
    message = f"Added {len(added)} sample(s) to {folder.name}."
    if refused:
        message += f" {len(refused)} file(s) are not images and were skipped."
    if notes:
        message += " " + "; ".join(notes) + "."
    return AddResult(added, tuple(refused), left_out, message)


def _encode_all(items: list[tuple[str, ImageInput]]) -> tuple[list[bytes], list[tuple[str, str]]]:
    encoded, refused = [], []
    for label, item in items:
        try:
            encoded.append(encode_png(item))
        except ImageError as err:
            refused.append((label, str(err)))
    return encoded, refused


def encode_png(item: ImageInput) -> bytes:
    """PNG bytes of an image (decoded safely when given as bytes), shrunk to fit MAX_SIDE."""
    if isinstance(item, Image.Image):
        if item.width * item.height > MAX_PIXELS or item.width < 1 or item.height < 1:
            raise ImageError(f"The image is {item.width}x{item.height} pixels: not usable.")
        img = item.convert("RGB") if item.mode not in ("RGB", "L") else item.copy()
    elif isinstance(item, bytes | bytearray):
        img = open_image(bytes(item))
    else:
        raise ImageError(f"A sample must be an image or image bytes, not {type(item).__name__}.")
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)  # keeps the aspect ratio
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _write(folder: Path, user: str, png: bytes) -> str:
    name = f"{user}--{secrets.token_hex(8)}.png"  # 64 random bits: never picked twice
    atomic_write_bytes(inside(folder, name), png)
    return name


def _note_contributor(ds: MadeDataset, actor: Identity) -> None:
    """Record the display name of `actor` in the manifest (the caller holds the lock)."""
    manifest = read_dict(ds.path / MANIFEST)
    contributors = manifest.get("contributors")
    contributors = contributors if isinstance(contributors, dict) else {}
    if contributors.get(actor.user_id) != actor.name:
        contributors[actor.user_id] = actor.name
        atomic_write_json(ds.path / MANIFEST, manifest | {"contributors": contributors})


# -- reading ------------------------------------------------------------------------------------
def samples(ds: MadeDataset, class_name: str, limit: int = 0) -> list[Sample]:
    """A class's samples, newest first (`limit` > 0: at most that many)."""
    folder = class_path(ds, class_name)
    files = [f for f in folder.iterdir() if is_sample(f)]
    files.sort(key=lambda f: (f.stat().st_mtime_ns, f.name), reverse=True)
    if limit > 0:
        files = files[:limit]
    return [Sample(folder.name, f.name, f, contributor_of(f.name)) for f in files]


def contributors(ds: MadeDataset) -> dict[str, tuple[str, int]]:
    """user id -> (display name, number of samples) of everyone who added samples."""
    names = read_dict(ds.path / MANIFEST).get("contributors")
    names = names if isinstance(names, dict) else {}
    counts: dict[str, int] = {}
    for c in classes(ds):
        for f in class_path(ds, c.name).iterdir():
            if is_sample(f) and (user := contributor_of(f.name)):
                counts[user] = counts.get(user, 0) + 1
    return {u: (str(names.get(u, u)), n) for u, n in sorted(counts.items())}


# -- changing -----------------------------------------------------------------------------------
def _sample_file(ds: MadeDataset, class_name: str, name: str, actor: Identity | None) -> Path:
    """An existing sample the actor may change: the owner/teacher any, others their own only."""
    folder = class_path(ds, class_name)
    path = inside(folder, name)
    if path.parent != folder or not is_sample(path):
        raise MadeError(f"There is no sample {name!r} in {folder.name} (it may have been removed).")
    if actor is not None and not actor.is_teacher and actor.user_id != ds.owner_id:
        if contributor_of(path.name) != actor.user_id:
            raise AccessDenied("You can only delete or move samples you added yourself.")
    return path


def delete_samples(
    ds: MadeDataset, class_name: str, names: Sequence[str], actor: Identity | None
) -> int:
    """Delete samples of a class; how many went. All are checked before any is deleted."""
    with locked(ds.path):
        paths = [_sample_file(ds, class_name, n, actor) for n in names]
        for path in paths:
            path.unlink(missing_ok=True)
    return len(paths)


def move_samples(
    ds: MadeDataset, source: str, target: str, names: Sequence[str], actor: Identity | None
) -> int:
    """Move samples to another class (one atomic rename each); how many moved."""
    with locked(ds.path):
        paths = [_sample_file(ds, source, n, actor) for n in names]
        folder = class_path(ds, target)
        moving = [p for p in paths if p.parent != folder]
        in_class = sum(1 for f in folder.iterdir() if is_sample(f))
        if in_class + len(moving) > MAX_PER_CLASS:
            raise MadeError(
                f"{folder.name} would hold more than {MAX_PER_CLASS} samples: delete some first."
            )
        for path in moving:
            os.rename(path, inside(folder, path.name))  # names are unique across classes
    return len(moving)


def remove_contributor(ds: MadeDataset, user_id: str, actor: Identity | None) -> int:
    """Delete every sample `user_id` added (owner or teacher only); how many went."""
    check_owner(ds, actor, "remove someone's samples")
    removed = 0
    with locked(ds.path):
        for c in classes(ds):
            for f in class_path(ds, c.name).iterdir():
                if is_sample(f) and contributor_of(f.name) == user_id:
                    f.unlink(missing_ok=True)
                    removed += 1
    return removed


def zip_bytes(ds: MadeDataset) -> bytes:
    """The dataset as a zip of `<class>/<image>` entries (what the Data page's upload reads)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:  # PNGs: compressed
        for c in classes(ds):
            for sample in sorted(samples(ds, c.name), key=lambda s: s.name):
                zf.write(sample.path, f"{c.name}/{sample.name}")
    return out.getvalue()


def thumbnail_png(path: Path, side: int = 72) -> bytes:
    """A small PNG of a stored sample (fits `side` pixels), for the page's per-class grid."""
    img = open_image(path)
    img.thumbnail((side, side), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
