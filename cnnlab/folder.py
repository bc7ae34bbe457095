"""User image datasets: a folder or a .zip of class folders, decoded once and cached on disk.

Layouts, optionally wrapped in one top-level folder (`mydata/...`):
- `<class>/<image>`: everything is training data (datasets.py carves validation and test out of it);
- `train/<class>/<image>` + optional `test/<class>/<image>`: the given split. Other top-level
  folders (`val/`, `valid/`, ...) are ignored and reported in `skipped`.
Images in sub-folders of a class folder count for that class. Class order: sorted names.
`__MACOSX/`, hidden files and non-image files are ignored; unreadable images, empty classes,
linked folders (never followed) and links leaving `root` are reported in `skipped` as
(file or folder/, reason) and never stop the load.

Every image is decoded once with `images.open_image` (in a 2-thread pool: Pillow releases the GIL
while decoding), resized to `image_size` squared, and the result cached under `cache_dir` keyed by
the zip's content hash (or a folder's file names, sizes and modification times).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from cnnlab.archive import ArchiveError, has_image_extension, is_ignored_name, read_zip_images
from cnnlab.images import ImageError, image_to_array, open_image

_CACHE_VERSION = 1  # bump when decoding changes, so old caches are not reused
_WORKERS = 2  # decode threads
_BATCH = 32  # images per pool task: few futures, yet work for both threads in small sets
_ZIP_IN_MEMORY_BYTES = 512 * 2**20  # smaller zips are read into memory first (see _open_zip)
_SPLITS = ("train", "test")
_LAYOUT_HELP = "<class>/<image> or train/<class>/<image> + test/<class>/<image>"

Source = bytes | Path  # the encoded image: bytes read from a zip, or a file to open


class FolderError(ValueError):
    """A folder or zip cannot be used as a dataset; the message says why and what to do."""


@dataclass(frozen=True)
class FolderImages:
    class_names: list[str]  # sorted class folder names; labels index into it
    train_x: torch.Tensor  # uint8 (N, C, H, W)
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor | None  # uint8 (M, C, H, W); only for the train/ + test/ layout
    test_y: torch.Tensor | None  # int64 (M,)
    skipped: list[tuple[str, str]]  # (file or folder/, reason) for everything left out


@dataclass
class _Listing:
    """Image files and sub-folders of a directory dataset."""

    files: list[tuple[str, Path, int, int]] = field(default_factory=list)  # name, path, bytes, ns
    folders: list[str] = field(default_factory=list)  # relative posix names
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Layout:
    prefix: str  # wrapper folder to drop, "" or "mydata/"
    has_splits: bool  # True for train/ + test/


def load_image_folder(
    path: Path,
    *,
    image_size: int,
    channels: int | None,
    cache_dir: Path,
    root: Path | None = None,
) -> FolderImages:
    """Load a directory or .zip of class folders as uint8 tensors of `image_size` squared.

    `channels`: 1, 3, or None = 1 when every image is grayscale (equal R, G, B) else 3.
    `root`: when given, `path` must resolve inside it (no `..` or symbolic-link escape) and
    symbolic links inside a directory may only point inside it.
    Raises `FolderError` when the path is unusable or fewer than 2 classes have readable images.
    """
    path = _checked_path(Path(path), root)
    if image_size < 1:
        raise FolderError(f"image_size must be a positive number of pixels, got {image_size}.")
    if channels not in (None, 1, 3):
        raise FolderError(f"channels must be 1, 3 or None (auto), got {channels}.")
    if path.is_dir():
        listing, archive = _scan_directory(path, root), None
        fingerprint = _directory_fingerprint(path, listing)
    else:
        listing = None
        archive, fingerprint = _open_zip(path)
    key = f"{_CACHE_VERSION}|{image_size}|{channels}|{fingerprint}"
    cache_file = cache_dir / f"folder-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pt"
    cached = _load_cache(cache_file)
    if cached is not None:
        return cached
    images = _build(path, listing, archive, image_size, channels)
    _save_cache(cache_file, images)
    return images


def _checked_path(path: Path, root: Path | None) -> Path:
    path = path.expanduser()
    if root is not None:
        base = Path(root).expanduser().resolve()
        if not path.resolve().is_relative_to(base):
            raise FolderError(
                f"{path} is outside the data folder {base}. Put the dataset inside that folder."
            )
    if not path.exists():
        raise FolderError(f"{path} does not exist. Check the path, or upload a .zip instead.")
    return path


def _scan_directory(base: Path, root: Path | None) -> _Listing:
    """Every image file under `base` (hidden and __MACOSX skipped), sorted by relative name."""
    allowed = Path(root).expanduser().resolve() if root is not None else None
    listing = _Listing()
    stack = [(base, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as err:
            listing.skipped.append((prefix or "./", f"cannot be listed ({err.strerror})"))
            continue
        for entry in entries:
            name = prefix + entry.name
            if is_ignored_name(entry.name):
                continue
            if entry.is_symlink():
                if entry.is_dir():
                    listing.skipped.append((name + "/", "symbolic link to a folder; not followed"))
                    continue
                target = Path(entry.path).resolve()
                if allowed is not None and not target.is_relative_to(allowed):
                    listing.skipped.append((name, "symbolic link outside the data folder"))
                    continue
            if entry.is_dir(follow_symlinks=False):
                listing.folders.append(name)
                stack.append((Path(entry.path), name + "/"))
            elif entry.is_file() and has_image_extension(entry.name):
                info = entry.stat()  # of the link's target for symbolic links
                listing.files.append((name, Path(entry.path), info.st_size, info.st_mtime_ns))
    listing.files.sort()
    return listing


def _directory_fingerprint(path: Path, listing: _Listing) -> str:
    """sha256 of the directory's path and the (name, size, mtime) of every image in it."""
    digest = hashlib.sha256(str(path.resolve()).encode())
    for name, _, size, mtime_ns in listing.files:
        digest.update(f"\n{name}\t{size}\t{mtime_ns}".encode())
    return f"dir:{digest.hexdigest()}"


def _open_zip(path: Path) -> tuple[BinaryIO | Path, str]:
    """The zip to read (in memory when small enough) and its fingerprint: size + sha256.

    zipfile calls seek/tell several times per member. On a real file each call is a system call
    that releases the GIL, and while the decode threads hold it the reader waits every time (a GIL
    convoy: +2.8 s on the 60,000-member CIFAR-10 zip). On a BytesIO they are plain calls.
    """
    size = path.stat().st_size
    if size <= _ZIP_IN_MEMORY_BYTES:
        data = path.read_bytes()
        return io.BytesIO(data), f"zip:{size}:{hashlib.sha256(data).hexdigest()}"
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256")
    return path, f"zip:{size}:{digest.hexdigest()}"


def _build(
    path: Path,
    listing: _Listing | None,
    archive: BinaryIO | Path | None,
    image_size: int,
    channels: int | None,
) -> FolderImages:
    """Decode every image, sort them into classes and splits, and stack them into tensors."""
    skipped: list[tuple[str, str]] = []
    sources: Iterable[tuple[str, Source]]
    if listing is not None:
        skipped += listing.skipped
        sources = ((name, file) for name, file, _, _ in listing.files)
    else:
        assert archive is not None
        sources = read_zip_images(archive, skipped=skipped)
    try:
        decoded = _decode_all(sources, image_size, channels)
    except ArchiveError as err:
        raise FolderError(str(err)) from err
    if not decoded:
        raise FolderError(
            f"No images found in {path.name} (looked for .png, .jpg, .jpeg, .bmp, .gif, .webp, "
            f".tif, .tiff files). Expected layout: {_LAYOUT_HELP}."
        )
    layout = _find_layout(list(decoded))
    pixels: dict[str, np.ndarray] = {}  # readable images: name -> (C, H, W)
    placed: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}  # split -> (name, class)
    class_folders = _class_folders(listing.folders, layout) if listing is not None else set()
    for name, value in decoded.items():
        where = _place(name, layout, skipped)
        if where is None:
            continue
        if where[0] == "train":
            class_folders.add(where[1])
        if isinstance(value, str):  # the ImageError message
            skipped.append((name, value))
            continue
        pixels[name] = value
        placed[where[0]].append((name, where[1]))
    class_names = sorted({cls for _, cls in placed["train"]})
    train_dir = layout.prefix + ("train/" if layout.has_splits else "")
    for cls in sorted(class_folders - set(class_names)):
        skipped.append((f"{train_dir}{cls}/", "no readable images; class dropped"))
    if len(class_names) < 2:
        unreadable = sum(1 for value in decoded.values() if isinstance(value, str))
        raise _too_few_classes(path, class_names, unreadable)
    known = set(class_names)
    for name, cls in placed["test"]:
        if cls not in known:
            skipped.append((name, f"class {cls!r} has no training images; skipped"))
    train = placed["train"]
    test = [(name, cls) for name, cls in placed["test"] if cls in known]
    if channels is None:  # auto: 1 only when every used image is grayscale (stops at a colour one)
        channels = 1 if all(_is_gray(pixels[name]) for name, _ in train + test) else 3
    train_x, train_y = _stack(train, pixels, class_names, channels, image_size)
    test_x, test_y = None, None
    if test:
        test_x, test_y = _stack(test, pixels, class_names, channels, image_size)
    return FolderImages(class_names, train_x, train_y, test_x, test_y, skipped)


def _decode_all(
    sources: Iterable[tuple[str, Source]], image_size: int, channels: int | None
) -> dict[str, np.ndarray | str]:
    """name -> uint8 (C, H, W) pixels, or the ImageError message. Decodes in a thread pool."""
    results: dict[str, np.ndarray | str] = {}
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        pending: deque[Future[list[tuple[str, np.ndarray | str]]]] = deque()
        for batch in _batches(sources, _BATCH):
            pending.append(pool.submit(_decode_batch, batch, image_size, channels))
            if len(pending) > 2 * _WORKERS:  # bound memory: a few batches of bytes in flight
                results.update(pending.popleft().result())
        for future in pending:
            results.update(future.result())
    return results


def _batches(items: Iterable[tuple[str, Source]], size: int) -> Iterator[list[tuple[str, Source]]]:
    batch: list[tuple[str, Source]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _decode_batch(
    batch: list[tuple[str, Source]], image_size: int, channels: int | None
) -> list[tuple[str, np.ndarray | str]]:
    """Decode and resize each image to uint8 (C, H, W), or keep the ImageError message."""
    size = (image_size, image_size)
    out: list[tuple[str, np.ndarray | str]] = []
    for name, source in batch:
        try:
            img = open_image(source)
        except ImageError as err:
            out.append((name, str(err)))
            continue
        num_channels = channels or (1 if img.mode == "L" else 3)  # auto: decided in _build
        out.append((name, image_to_array(img, size, num_channels)))
    return out


def _is_gray(pixels: np.ndarray) -> bool:
    """True for (1, H, W), and for (3, H, W) with equal R, G and B (gray saved as RGB)."""
    if pixels.shape[0] == 1:
        return True
    return bool(np.array_equal(pixels[0], pixels[1]) and np.array_equal(pixels[1], pixels[2]))


def _find_layout(names: list[str]) -> _Layout:
    """Detect a wrapper folder and the train/test layout from the image names."""
    parts = [name.split("/") for name in names]
    prefix = ""
    firsts = {p[0] for p in parts}
    if len(firsts) == 1 and all(len(p) >= 3 for p in parts):
        first = firsts.pop()
        if first.lower() not in _SPLITS:
            prefix = first + "/"
            parts = [p[1:] for p in parts]
    tops = {p[0].lower() for p in parts if len(p) >= 2}
    if "test" in tops and "train" not in tops:
        raise FolderError(
            f"Found a test/ folder but no train/ folder. Expected layout: {_LAYOUT_HELP}."
        )
    return _Layout(prefix, "train" in tops)


def _place(name: str, layout: _Layout, skipped: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(split, class) of an image, or None after recording why it is not used."""
    parts = name[len(layout.prefix) :].split("/")
    if not layout.has_splits:
        if len(parts) < 2:
            skipped.append((name, f"not inside a class folder (expected {_LAYOUT_HELP})"))
            return None
        return "train", parts[0]
    split = parts[0].lower()
    if len(parts) < 2:
        skipped.append((name, "not inside train/<class>/ or test/<class>/"))
        return None
    if split not in _SPLITS:
        note = (f"{layout.prefix}{parts[0]}/", "only train/ and test/ are read; folder ignored")
        if note not in skipped:
            skipped.append(note)
        return None
    if len(parts) < 3:
        skipped.append((name, f"not inside a class folder of {parts[0]}/"))
        return None
    return split, parts[1]


def _class_folders(folders: list[str], layout: _Layout) -> set[str]:
    """Names of the class-level folders among a directory's sub-folders (empty ones included)."""
    classes = set()
    for folder in folders:
        if not folder.startswith(layout.prefix):
            continue
        parts = folder[len(layout.prefix) :].split("/")
        if layout.has_splits and len(parts) == 2 and parts[0].lower() == "train":
            classes.add(parts[1])
        elif not layout.has_splits and len(parts) == 1 and parts[0]:
            classes.add(parts[0])
    return classes


def _too_few_classes(path: Path, class_names: list[str], unreadable: int) -> FolderError:
    found = ", ".join(class_names) if class_names else "none"
    return FolderError(
        f"{path.name} needs at least 2 class folders with at least one readable image each; "
        f"found {len(class_names)} ({found}). Expected layout: {_LAYOUT_HELP}."
        + (f" {unreadable} image(s) could not be read." if unreadable else "")
    )


def _stack(
    items: list[tuple[str, str]],
    pixels: dict[str, np.ndarray],
    class_names: list[str],
    channels: int,
    image_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, H, W) images and int64 (N,) labels, ordered by file name."""
    items = sorted(items)
    index = {cls: i for i, cls in enumerate(class_names)}
    x = np.empty((len(items), channels, image_size, image_size), dtype=np.uint8)
    for i, (name, _) in enumerate(items):
        # (1, H, W) broadcasts to 3 channels; a gray (3, H, W) gives 1 channel as R = G = B.
        x[i] = pixels[name][:channels]
    y = torch.tensor([index[cls] for _, cls in items], dtype=torch.int64)
    return torch.from_numpy(x), y


def _load_cache(file: Path) -> FolderImages | None:
    """The cached result, or None when absent or unreadable (then it is rebuilt)."""
    if not file.is_file():
        return None
    try:
        data = torch.load(file, weights_only=True, map_location="cpu")
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


def _save_cache(file: Path, images: FolderImages) -> None:
    """Write atomically (temp file + os.replace); a failed write only costs speed next time."""
    payload = {
        "class_names": images.class_names,
        "train_x": images.train_x,
        "train_y": images.train_y,
        "test_x": images.test_x,
        "test_y": images.test_y,
        "skipped": [list(item) for item in images.skipped],
    }
    tmp = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, file)
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
