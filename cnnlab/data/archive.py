"""Safe reading of user zip uploads: image members one by one, never `extractall`.

Nothing is ever written to disk, so a hostile member name cannot land outside a folder; names are
still normalised and unsafe ones (absolute, `..`, drive letters) skipped, because callers use them
as class and split names. Python 3.11.7's zipfile lacks the overlapping-entry check (CVE-2024-0450),
so this module caps everything itself:

- entries: the count declared in the end-of-central-directory record is checked before zipfile
  parses the directory, and the parsed count after;
- overlapping entries (several members sharing compressed bytes, the "better zip bomb") are rejected;
- per entry: encrypted -> error, compression ratio above `max_ratio` -> error (zip bomb), declared
  size above `max_entry_bytes` -> skipped; bytes are read in chunks and reading stops at the cap,
  because the header can lie;
- in total: the declared uncompressed size of the images, and the bytes actually read.

Members that are unsafe, symbolic links, duplicates, too large or unreadable are skipped and
reported as (name, reason) in the optional `skipped` list; the archive as a whole is rejected with an
`ArchiveError` only when it is not a readable zip or looks malicious.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cnnlab.data.images import MAX_FILE_BYTES

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# Image formats people have that cnnlab does not decode: reported in `skipped`, never silent.
UNSUPPORTED_EXTENSIONS = {
    ".heic": "HEIC is not supported: convert to JPEG",
    ".heif": "HEIC is not supported: convert to JPEG",
}

_CHUNK_BYTES = 2**20  # read members 1 MiB at a time
_RATIO_MIN_BYTES = 2**20  # entries this small cannot bomb; tiny flat BMPs often compress 100x+
_LOCAL_HEADER_BYTES = 30  # fixed part of a zip local file header
_EOCD_BYTES = 22  # fixed part of the end-of-central-directory record
_CENTRAL_HEADER_BYTES = 46  # fixed part of a central directory file header
_ENCRYPTED_FLAG = 0x1


class ArchiveError(ValueError):
    """A zip cannot be read safely; the message says why and what to do."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 100_000  # members (files + folders); CIFAR-10 as JPEGs has 60,022
    max_total_bytes: int = 2 * 2**30  # uncompressed bytes of all images together
    max_entry_bytes: int = MAX_FILE_BYTES  # uncompressed bytes of one image
    max_ratio: float = 200.0  # uncompressed / compressed size of one entry (entries > 1 MiB)


DEFAULT_LIMITS = ArchiveLimits()


def read_zip_images(
    path: str | Path | BinaryIO,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    *,
    skipped: list[tuple[str, str]] | None = None,
    check_count: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Yield (normalised posix member path, bytes) for each image-looking member, in zip order.

    Skips silently: directories, `__MACOSX/`, dotfiles and dot-folders, non-image extensions.
    Skips and appends (name, reason) to `skipped`: unsafe names, symbolic links, duplicate names
    (the first is kept), members over `max_entry_bytes`, members that fail to decompress.
    Raises `ArchiveError` for: not a zip, truncated, empty, too many entries, overlapping entries,
    encrypted members, a compression ratio over `max_ratio`, too many bytes in total.
    `check_count(number of images)` runs after the directory was read and before any member is:
    a caller's chance to refuse (by raising) what the images would cost once decoded.
    """
    report = skipped if skipped is not None else []
    with _open_zip(path, limits) as archive:
        members = _select_members(archive, limits, report)
        if check_count is not None:
            check_count(len(members))
        total = 0
        for name, info in members:
            data = _read_member(archive, name, info, limits.max_entry_bytes, report)
            if data is None:
                continue
            total += len(data)
            if total > limits.max_total_bytes:
                raise ArchiveError(
                    f"The images in the zip add up to more than {_size(limits.max_total_bytes)} "
                    "uncompressed. Split the dataset or use smaller images."
                )
            yield name, data


def safe_member_name(raw: str) -> str | None:
    """`raw` as a normalised relative posix path, or None when it could point outside a folder.

    Backslashes count as separators (Windows zips), `.` and empty parts are dropped; absolute
    paths, drive letters and any `..` part make the name unsafe.
    """
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def is_ignored_name(name: str) -> bool:
    """True for macOS resource forks (`__MACOSX/`) and hidden files or folders (`.DS_Store`)."""
    padded = f"/{name}/"
    return "/." in padded or "/__MACOSX/" in padded


def unsupported_reason(name: str) -> str | None:
    """Why an image file of a format cnnlab cannot decode is left out (HEIC), else None."""
    return UNSUPPORTED_EXTENSIONS.get(os.path.splitext(name)[1].lower())


def has_image_extension(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


@contextmanager
def _open_zip(source: str | Path | BinaryIO, limits: ArchiveLimits) -> Iterator[zipfile.ZipFile]:
    """An open ZipFile whose entry count and layout were checked; ArchiveError otherwise."""
    if isinstance(source, str | Path):
        try:
            file = open(source, "rb")  # closed in the finally below
        except OSError as err:
            raise ArchiveError(f"Could not open {source}: {err.strerror or err}.") from err
    else:
        file = source
    try:
        file.seek(0)  # the whole file is the zip, wherever an upload's position was left
        head = file.read(4)
        file.seek(0)
        if not head:
            raise ArchiveError("The zip file is empty (0 bytes). Upload it again.")
        declared, directory_at = _declared_entries(file)
        if declared is not None and declared > limits.max_entries:
            raise _too_many_entries(declared, limits)
        if directory_at is not None:  # the declared count can lie: count the headers themselves
            _check_directory_count(file, directory_at, limits)
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
            raise _not_a_zip(head, err) from err  # NotImplementedError: "zip file version 14.8"
        with archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise _too_many_entries(len(infos), limits)
            if not infos:
                raise ArchiveError("The zip is empty (it has no files). Zip your image folders.")
            _check_no_overlap(infos, getattr(archive, "start_dir", None))
            yield archive
    finally:
        if file is not source:
            file.close()


def _declared_entries(file: BinaryIO) -> tuple[int | None, int | None]:
    """(entry count, central directory offset) from the end-of-central-directory record (zip64
    too); (None, None) when there is no such record."""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    tail_size = min(size, _EOCD_BYTES + 0xFFFF)  # the record plus the longest possible comment
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    file.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD_BYTES:
        return None, None
    entries, _, offset = struct.unpack_from("<HII", tail, at + 10)
    if entries == 0xFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        (zip64_offset,) = struct.unpack_from("<Q", tail, at - 12)  # zip64 locator
        file.seek(zip64_offset)
        record = file.read(56)
        file.seek(0)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            entries, offset = struct.unpack_from("<Q8xQ", record, 32)
    return entries, offset


def _check_directory_count(file: BinaryIO, offset: int, limits: ArchiveLimits) -> None:
    """Walk the central directory's headers (46 bytes + names each, nothing else read) and raise
    as soon as there are more than `max_entries`; zipfile would parse all of them into memory."""
    file.seek(offset)
    count = 0
    while True:
        header = file.read(_CENTRAL_HEADER_BYTES)
        if len(header) < _CENTRAL_HEADER_BYTES or header[:4] != b"PK\x01\x02":
            break  # the end of the directory (or an offset zipfile corrects itself)
        count += 1
        if count > limits.max_entries:
            file.seek(0)
            raise ArchiveError(
                f"The zip has more than {limits.max_entries:,} entries (its header claims fewer). "
                "Use fewer images (or split the dataset into several zips)."
            )
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", header, 28)
        file.seek(name_len + extra_len + comment_len, os.SEEK_CUR)
    file.seek(0)


def _check_no_overlap(infos: list[zipfile.ZipInfo], central_dir_start: int | None) -> None:
    """Reject zips whose members' compressed bytes overlap (several names reading the same data)."""
    ordered = sorted(infos, key=lambda info: info.header_offset)
    ends = [info.header_offset for info in ordered[1:]] + [central_dir_start]
    for info, end in zip(ordered, ends, strict=True):
        if end is not None and info.header_offset + _LOCAL_HEADER_BYTES + info.compress_size > end:
            raise ArchiveError(
                f"The zip has overlapping entries ({info.filename!r} shares its data with another "
                "entry). This is a zip-bomb trick; re-create the zip with a normal zip tool."
            )


def _select_members(
    archive: zipfile.ZipFile, limits: ArchiveLimits, report: list[tuple[str, str]]
) -> list[tuple[str, zipfile.ZipInfo]]:
    """The (normalised name, info) of image members to read, checked against the limits."""
    chosen: list[tuple[str, zipfile.ZipInfo]] = []
    seen: set[str] = set()
    declared_total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = safe_member_name(info.filename)
        if name is None:
            report.append((info.filename, "unsafe path (absolute or containing '..'); skipped"))
            continue
        if is_ignored_name(name):
            continue
        if why := unsupported_reason(name):
            report.append((name, why))
            continue
        if not has_image_extension(name):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            report.append((name, "symbolic link; skipped"))
            continue
        if name in seen:
            report.append((name, "duplicate name in the zip; the first copy was used"))
            continue
        seen.add(name)
        _check_entry(name, info, limits)
        if info.file_size > limits.max_entry_bytes:
            report.append(
                (name, f"larger than {_size(limits.max_entry_bytes)} uncompressed; skipped")
            )
            continue
        declared_total += info.file_size
        chosen.append((name, info))
    if declared_total > limits.max_total_bytes:
        raise ArchiveError(
            f"The images in the zip add up to {_size(declared_total)} uncompressed, more than the "
            f"limit of {_size(limits.max_total_bytes)}. Split the dataset or use smaller images."
        )
    return chosen


def _check_entry(name: str, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    """Raise for an encrypted member or one that expands suspiciously (zip bomb)."""
    if info.flag_bits & _ENCRYPTED_FLAG:
        raise ArchiveError(
            f"The zip is password-protected ({name!r} is encrypted) and cnnlab cannot read "
            "encrypted zips. Re-create the zip without a password."
        )
    if info.file_size > _RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise ArchiveError(
                f"{name!r} expands from {_size(info.compress_size)} to {_size(info.file_size)} "
                f"(compression ratio {ratio:.0f}:1, limit {limits.max_ratio:.0f}:1). That is how "
                "zip bombs look, so the zip was rejected; zip your real image files instead."
            )


def _read_member(
    archive: zipfile.ZipFile,
    name: str,
    info: zipfile.ZipInfo,
    max_bytes: int,
    report: list[tuple[str, str]],
) -> bytes | None:
    """The member's bytes, or None (reported) when it is unreadable or bigger than declared."""
    try:
        with archive.open(info) as stream:
            data = read_capped(stream, max_bytes)
    except NotImplementedError as err:  # e.g. Deflate64 from Windows Explorer for big zips
        report.append((name, f"unsupported compression ({err}); re-zip with standard Deflate"))
        return None
    except Exception as err:  # BadZipFile (bad CRC), zlib.error, EOFError, lzma/bz2 errors
        report.append((name, f"damaged inside the zip ({err}); skipped"))
        return None
    if data is None:
        report.append((name, f"larger than {_size(max_bytes)} when decompressed; skipped"))
    return data


def read_capped(stream: BinaryIO, max_bytes: int) -> bytes | None:
    """All bytes of `stream`, or None as soon as more than `max_bytes` arrive (never reads more)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK_BYTES, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            return None
        chunks.append(chunk)


def _too_many_entries(count: int, limits: ArchiveLimits) -> ArchiveError:
    return ArchiveError(
        f"The zip has {count:,} entries, more than the limit of {limits.max_entries:,}. "
        "Use fewer images (or split the dataset into several zips)."
    )


def _not_a_zip(head: bytes, err: Exception) -> ArchiveError:
    if head.startswith(b"PK\x03\x04"):
        return ArchiveError(
            f"The zip is truncated or damaged ({err}): it starts like a zip but its table of "
            "contents is missing. The upload or download was probably cut short; try again."
        )
    return ArchiveError(
        f"This file is not a zip archive ({err}). Upload a .zip of class folders "
        "(for example cats/001.jpg, dogs/001.jpg)."
    )


def _size(num_bytes: int) -> str:
    """Human-readable size: '1.0 GB', '50 MB', '12 KB', '80 bytes'."""
    if num_bytes >= 2**30:
        return f"{num_bytes / 2**30:.1f} GB"
    if num_bytes >= 2**20:
        return f"{num_bytes / 2**20:.0f} MB"
    if num_bytes >= 2**10:
        return f"{num_bytes / 2**10:.0f} KB"
    return f"{num_bytes} bytes"
