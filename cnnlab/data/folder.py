"""User image datasets: a folder or a .zip of class folders, decoded once and cached on disk.

Layouts, optionally wrapped in one top-level folder (`mydata/...`):
- `<class>/<image>`: everything is training data (datasets.py carves validation and test out of it);
- `train/<class>/<image>` + optional `test/<class>/<image>`: the given split. Other top-level
  folders (`val/`, `valid/`, ...) are ignored and reported in `skipped`.
Images in sub-folders of a class folder count for that class. Class order: sorted names.
`__MACOSX/`, hidden files and non-image files are ignored; unreadable images, empty classes,
linked folders (never followed) and links leaving `root` are reported in `skipped` as
(file or folder/, reason) and never stop the load.

Before anything is decoded, images x side^2 x channels is checked against `max_decoded_bytes`
(a 3 MB zip of 20,000 tiny PNGs would otherwise decode to ~1 GB at 128 px). HEIC photos are
listed in `skipped` with what to do.

Every image is decoded once with `images.open_image` (in a 2-thread pool: Pillow releases the GIL
while decoding), resized to `image_size` squared, and the result cached under `cache_dir` keyed by
the zip's content hash (or a folder's file names, sizes and modification times).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from cnnlab.data.archive import (
    ArchiveError,
    has_image_extension,
    is_ignored_name,
    read_zip_images,
    unsupported_reason,
)
from cnnlab.data.folder_cache import load_cache, save_cache
from cnnlab.data.folder_layout import (
    LAYOUT_HELP,
    FolderError,
    FolderImages,
    class_folders,
    find_layout,
    place,
    too_few_classes,
)
from cnnlab.data.images import ImageError, image_to_array, open_image

_CACHE_VERSION = 1  # bump when decoding changes, so old caches are not reused
_WORKERS = 2  # decode threads
_BATCH = 32  # images per pool task: few futures, yet work for both threads in small sets
_ZIP_IN_MEMORY_BYTES = 512 * 2**20  # smaller zips are read into memory first (see _open_zip)
# Decoded pixels of one dataset (uint8). Loading needs about twice this at its peak (decoded
# images, then the stacked tensor) plus the splits' copies; CIFAR-10 at 32 px is 184 MB.
MAX_DECODED_BYTES = 512 * 2**20
Source = bytes | Path  # the encoded image: bytes read from a zip, or a file to open


@dataclass
class _Listing:
    """Image files and sub-folders of a directory dataset."""

    files: list[tuple[str, Path, int, int]] = field(default_factory=list)  # name, path, bytes, ns
    folders: list[str] = field(default_factory=list)  # relative posix names
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_image_folder(
    path: Path,
    *,
    image_size: int,
    channels: int | None,
    cache_dir: Path,
    root: Path | None = None,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> FolderImages:
    """Load a directory or .zip of class folders as uint8 tensors of `image_size` squared.

    `channels`: 1, 3, or None = 1 when every image is grayscale (equal R, G, B) else 3.
    `root`: when given, `path` must resolve inside it (no `..` or symbolic-link escape) and
    symbolic links inside a directory may only point inside it.
    Raises `FolderError` when the images would decode to more than `max_decoded_bytes`, when the path is unusable or fewer than 2 classes have readable images.
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
    cached = load_cache(cache_file)
    if cached is not None:
        return cached
    images = _build(path, listing, archive, image_size, channels, max_decoded_bytes)
    save_cache(cache_file, images)
    return images


def check_decoded_size(count: int, image_size: int, channels: int, max_bytes: int) -> None:
    """Raise FolderError when `count` images of `image_size`^2 x `channels` bytes exceed `max_bytes`."""
    decoded = count * image_size * image_size * channels
    if decoded <= max_bytes:
        return
    side = int((max_bytes / max(count * channels, 1)) ** 0.5)
    hint = f"an image size of at most {side} pixels" if side >= 8 else "fewer images"
    raise FolderError(
        f"{count:,} images at {image_size}x{image_size} pixels and {channels} channels would "
        f"decode to {_mb(decoded)}, more than the limit of {_mb(max_bytes)}. "
        f"Choose {hint}, or split the dataset."
    )


def _mb(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:,.0f} MB"


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
            elif entry.is_file() and (why := unsupported_reason(entry.name)):
                listing.skipped.append((name, why))
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
    max_decoded_bytes: int,
) -> FolderImages:
    """Decode every image, sort them into classes and splits, and stack them into tensors."""
    skipped: list[tuple[str, str]] = []
    sources: Iterable[tuple[str, Source]]

    def check(count: int) -> None:
        check_decoded_size(count, image_size, channels or 3, max_decoded_bytes)

    if listing is not None:
        skipped += listing.skipped
        check(len(listing.files))
        sources = ((name, file) for name, file, _, _ in listing.files)
    else:
        assert archive is not None
        sources = read_zip_images(archive, skipped=skipped, check_count=check)
    try:
        decoded = _decode_all(sources, image_size, channels)
    except ArchiveError as err:
        raise FolderError(str(err)) from err
    if not decoded:
        raise FolderError(
            f"No images found in {path.name} (looked for .png, .jpg, .jpeg, .bmp, .gif, .webp, "
            f".tif, .tiff files). Expected layout: {LAYOUT_HELP}."
        )
    layout = find_layout(list(decoded))
    pixels: dict[str, np.ndarray] = {}  # readable images: name -> (C, H, W)
    placed: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}  # split -> (name, class)
    class_dirs = class_folders(listing.folders, layout) if listing is not None else set()
    for name, value in decoded.items():
        where = place(name, layout, skipped)
        if where is None:
            continue
        if where[0] == "train":
            class_dirs.add(where[1])
        if isinstance(value, str):  # the ImageError message
            skipped.append((name, value))
            continue
        pixels[name] = value
        placed[where[0]].append((name, where[1]))
    class_names = sorted({cls for _, cls in placed["train"]})
    train_dir = layout.prefix + ("train/" if layout.has_splits else "")
    for cls in sorted(class_dirs - set(class_names)):
        skipped.append((f"{train_dir}{cls}/", "no readable images; class dropped"))
    if len(class_names) < 2:
        unreadable = sum(1 for value in decoded.values() if isinstance(value, str))
        raise too_few_classes(path, class_names, unreadable)
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
