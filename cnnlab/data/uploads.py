"""Uploaded dataset zips: stored per owner, named by content, safe to save concurrently.

An upload lives at `<cache>/uploads/<owner key>/<sha256[:24]>/<name>.zip`; configs refer to it
as `upload:<owner key>/<sha256[:24]>/<name>.zip` (relative: a run's config.json never holds the
server's absolute path). The owner key is a hash of the owner string (today the browser session's
id, in classroom mode a user id), so an upload loads only for whoever uploaded it
(`check_owner`). Bytes stream to a uniquely named temporary file and move into place with one
atomic `os.replace`, so two browsers uploading the same zip at once both succeed. A refused upload
is deleted (`discard`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cnnlab.config import default_cache_dir

UPLOAD_PREFIX = "upload:"
MAX_UPLOAD_BYTES = 200 * 2**20  # = server.maxUploadSize in .streamlit/config.toml (MB there)
_CHUNK_BYTES = 2**20  # copy 1 MiB at a time (an upload is never held twice in memory)
_REF = re.compile(r"upload:([0-9a-f]{16})/([0-9a-f]{24})/([A-Za-z0-9._-]{1,80})")
NOT_AVAILABLE = "This upload is not available (it belongs to another session or was removed). Upload the zip again."


class UploadError(ValueError):
    """An upload is too large, unknown or not the caller's; the message says what to do."""


@dataclass(frozen=True)
class Upload:
    ref: str  # "upload:<owner key>/<digest>/<name>.zip": what DataConfig.path holds
    path: Path  # where the bytes are on this server
    size: int  # bytes


def uploads_dir() -> Path:
    return default_cache_dir() / "uploads"


def owner_key(owner: str) -> str:
    """16 hex digits naming `owner`'s upload folder (the owner string itself is never stored)."""
    return hashlib.sha256(f"cnnlab-upload-owner|{owner}".encode()).hexdigest()[:16]


def too_large_message(size_bytes: int, limit_bytes: int = MAX_UPLOAD_BYTES) -> str | None:
    """What to tell a user whose file is over the limit, or None when it fits."""
    if size_bytes <= limit_bytes:
        return None
    return (
        f"That file is {size_bytes / 2**20:.0f} MB; the limit is {limit_bytes / 2**20:.0f} MB. "
        "Upload a smaller file (for datasets: fewer or smaller images)."
    )


def save_upload(
    source: bytes | BinaryIO,
    filename: str,
    owner: str,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> Upload:
    """Store an uploaded file for `owner`; the same bytes and name give the same reference.

    `source`: the bytes, or a binary stream (read in 1 MiB chunks from its start).
    Raises UploadError (nothing left on disk) when it is larger than `max_bytes`.
    """
    if (message := too_large_message(_size_of(source), max_bytes)) is not None:
        raise UploadError(message)  # known before anything is written
    folder = uploads_dir() / owner_key(owner)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=folder)  # unique per call
    tmp = Path(tmp_name)
    try:
        digest, size = _copy_capped(source, fd, max_bytes)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(filename).stem).strip(".-")[:60] or "upload"
        ref = f"{UPLOAD_PREFIX}{owner_key(owner)}/{digest}/{stem}.zip"
        path = upload_path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)  # atomic; a concurrent save of the same bytes wrote the same file
        return Upload(ref, path, size)
    finally:
        tmp.unlink(missing_ok=True)


def _size_of(source: bytes | BinaryIO) -> int:
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    source.seek(0, os.SEEK_END)
    return source.tell()


def _copy_capped(source: bytes | BinaryIO, fd: int, max_bytes: int) -> tuple[str, int]:
    """Write `source` to `fd` (closed after); (sha256[:24], size). UploadError past `max_bytes`."""
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "wb") as out:
        if isinstance(source, bytes | bytearray | memoryview):
            chunks = [bytes(source)]
        else:
            source.seek(0)
            chunks = iter(lambda: source.read(_CHUNK_BYTES), b"")
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise UploadError(too_large_message(size, max_bytes) or "")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()[:24], size


def is_upload_ref(text: str) -> bool:
    return text.startswith(UPLOAD_PREFIX)


def upload_path(ref: str) -> Path:
    """The file an upload reference names (UploadError for a malformed reference)."""
    match = _REF.fullmatch(ref)
    if match is None:
        raise UploadError(NOT_AVAILABLE)
    owner, digest, name = match.groups()
    return uploads_dir() / owner / digest / name


def check_owner(cfg_path: str, owner: str) -> None:
    """Raise UploadError unless `cfg_path` is not an upload, or is one of `owner`'s uploads.

    A plain path into the uploads folder is refused too (uploads are reached by reference only).
    """
    if is_upload_ref(cfg_path):
        match = _REF.fullmatch(cfg_path)
        if match is None or match[1] != owner_key(owner) or not upload_path(cfg_path).is_file():
            raise UploadError(NOT_AVAILABLE)
        return
    if cfg_path:
        try:
            inside = Path(cfg_path).expanduser().resolve().is_relative_to(uploads_dir().resolve())
        except (OSError, RuntimeError):
            inside = True
        if inside:
            raise UploadError(NOT_AVAILABLE)


def discard(ref: str) -> None:
    """Delete an upload (a refused one) and its folder when empty; unknown references are ignored."""
    try:
        path = upload_path(ref)
    except UploadError:
        return
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass  # another name for the same bytes is still there
