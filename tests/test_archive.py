"""read_zip_images on hostile zips, each built in code: unsafe names and links are skipped and
reported, bombs and broken zips raise ArchiveError with a message that says what to do."""

from __future__ import annotations

import io
import stat
import struct
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnnlab.data.archive import ArchiveError, ArchiveLimits, read_capped, read_zip_images


def make_zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip written by the standard library (names stored exactly as given)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name" is what we want here
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


@dataclass
class Entry:
    """One member of a hand-built zip; `size`, `crc` and `compressed` may lie."""

    name: str
    content: bytes = b""
    compressed: bytes | None = None  # raw deflate data; default: deflate(content)
    size: int | None = None  # declared uncompressed size; default: len(content)
    crc: int | None = None
    flags: int = 0
    method: int = zipfile.ZIP_DEFLATED
    alias_of: int | None = None  # central-directory entry pointing at another entry's data


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def raw_zip(entries: list[Entry]) -> bytes:
    """Write local headers, data, central directory and end record by hand."""
    body, central, offsets = b"", b"", []
    for entry in entries:
        data = entry.compressed if entry.compressed is not None else deflate(entry.content)
        size = len(entry.content) if entry.size is None else entry.size
        crc = zlib.crc32(entry.content) if entry.crc is None else entry.crc
        name = entry.name.encode()
        fields = (entry.flags, entry.method, 0, 0x21, crc, len(data), size, len(name), 0)
        if entry.alias_of is None:
            offsets.append(len(body))
            body += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, *fields) + name + data
        else:
            offsets.append(offsets[entry.alias_of])
        central += (
            struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, *fields, 0, 0, 0, 0, offsets[-1])
            + name
        )
    end = struct.pack(
        "<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(body), 0
    )
    return body + central + end


def read_all(data: bytes, limits: ArchiveLimits | None = None) -> tuple[dict, list]:
    """(name -> bytes, skipped) for a zip given as bytes."""
    skipped: list[tuple[str, str]] = []
    images = dict(read_zip_images(io.BytesIO(data), limits or ArchiveLimits(), skipped=skipped))
    return images, skipped


# ---- names and member kinds -----------------------------------------------------------------


def test_zip_slip_names_are_skipped_and_reported() -> None:
    unsafe = ["../x.png", "/abs/x.png", "a/../../x.png", "a\\..\\..\\x.png", "C:/x.png"]
    data = make_zip([(name, b"evil") for name in unsafe] + [("cats/ok.png", b"fine")])
    images, skipped = read_all(data)
    assert images == {"cats/ok.png": b"fine"}
    assert [name for name, _ in skipped] == unsafe
    assert all("unsafe path" in reason for _, reason in skipped)


def test_names_are_normalised_to_relative_posix_paths() -> None:
    images, _ = read_all(make_zip([("./cats//sub\\a.png", b"1")]))
    assert list(images) == ["cats/sub/a.png"]


def test_symlink_entries_are_skipped_and_reported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("cats/link.png")
        link.create_system = 3  # Unix
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("cats/real.png", b"pixels")
    images, skipped = read_all(buffer.getvalue())
    assert list(images) == ["cats/real.png"]
    assert skipped == [("cats/link.png", "symbolic link; skipped")]


def test_macos_dotfiles_directories_and_non_images_are_ignored_silently() -> None:
    data = make_zip(
        [
            ("cats/", b""),
            ("__MACOSX/cats/._1.png", b"resource fork"),
            ("cats/.DS_Store", b"finder"),
            (".git/x.png", b"hidden folder"),
            ("cats/notes.txt", b"text"),
            ("cats/1.PNG", b"upper-case extension"),
            *[(f"cats/2.{ext}", ext.encode()) for ext in ["jpg", "jpeg", "bmp", "gif", "webp"]],
            ("cats/3.tif", b"tif"),
            ("cats/4.tiff", b"tiff"),
        ]
    )
    images, skipped = read_all(data)
    assert sorted(images) == sorted(
        ["cats/1.PNG", "cats/3.tif", "cats/4.tiff"]
        + [f"cats/2.{e}" for e in ["jpg", "jpeg", "bmp", "gif", "webp"]]
    )
    assert skipped == []


def test_duplicate_names_keep_the_first_and_report_the_rest() -> None:
    data = make_zip([("a/x.png", b"first"), ("a/x.png", b"second"), ("a/./x.png", b"third")])
    images, skipped = read_all(data)
    assert images == {"a/x.png": b"first"}
    assert skipped == [("a/x.png", "duplicate name in the zip; the first copy was used")] * 2


# ---- bombs and lies ---------------------------------------------------------------------------


def gigabyte_of_zeros_deflated() -> bytes:
    """Raw deflate data that expands to 1 GiB of zeros, in ~1 MB, built in milliseconds."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the compressor forgets its history, so every 1 MiB block compresses to
    # the same bytes and can simply be repeated.
    block = compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * 1024 + zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # + final empty block


def test_zip_bomb_is_rejected_by_ratio_without_reading_it() -> None:
    compressed = gigabyte_of_zeros_deflated()
    assert len(compressed) < 2 * 2**20
    # crc is never checked: the member is rejected before a single byte is inflated.
    data = raw_zip([Entry("cats/bomb.png", compressed=compressed, size=2**30, crc=0)])
    start = time.perf_counter()
    with pytest.raises(ArchiveError, match="compression ratio") as info:
        read_all(data)
    assert time.perf_counter() - start < 1.0  # inflating 1 GiB would take seconds
    assert "zip bomb" in str(info.value)


def test_header_that_understates_the_size_never_yields_more_than_declared() -> None:
    real = bytes(8 * 2**20)  # 8 MiB of zeros behind a header that says 1000 bytes
    honest_crc = zlib.crc32(real[:1000])
    data = raw_zip(
        [
            Entry("a/bad_crc.png", compressed=deflate(real), size=1000, crc=1234),
            Entry("a/same_crc.png", compressed=deflate(real), size=1000, crc=honest_crc),
        ]
    )
    images, skipped = read_all(data)
    assert images == {"a/same_crc.png": bytes(1000)}  # cut at the declared size
    assert skipped[0][0] == "a/bad_crc.png" and "damaged" in skipped[0][1]


def test_read_capped_stops_at_the_cap() -> None:
    stream = io.BytesIO(bytes(10 * 2**20))
    assert read_capped(stream, 2**20) is None
    assert stream.tell() <= 2**20 + 1  # read one byte past the cap, no more
    assert read_capped(io.BytesIO(b"abc"), 3) == b"abc"


def test_overlapping_entries_are_rejected() -> None:
    # The trick behind the "better zip bomb": many names share one compressed blob.
    data = raw_zip([Entry("a/x.png", b"x" * 100), Entry("a/y.png", b"x" * 100, alias_of=0)])
    with pytest.raises(ArchiveError, match="overlapping"):
        read_all(data)


def test_declared_total_over_the_limit_is_rejected_before_reading() -> None:
    data = make_zip([("a/1.png", bytes(600)), ("a/2.png", bytes(600))])
    with pytest.raises(ArchiveError, match="add up to"):
        read_all(data, ArchiveLimits(max_total_bytes=1000))


def test_entry_over_the_per_entry_limit_is_skipped_and_reported() -> None:
    data = make_zip([("a/big.png", bytes(200)), ("a/small.png", bytes(50))])
    images, skipped = read_all(data, ArchiveLimits(max_entry_bytes=100))
    assert list(images) == ["a/small.png"]
    assert skipped[0][0] == "a/big.png" and "larger than" in skipped[0][1]


# ---- many entries -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fifty_thousand() -> bytes:
    return make_zip([(f"c{i % 10}/{i}.png", b"x") for i in range(50_000)], zipfile.ZIP_STORED)


def test_fifty_thousand_entries_are_read_in_reasonable_time(fifty_thousand: bytes) -> None:
    start = time.perf_counter()
    images, skipped = read_all(fifty_thousand)
    assert len(images) == 50_000 and skipped == []
    assert time.perf_counter() - start < 15.0  # ~2 s on an idle 2-core machine


def test_too_many_entries_are_rejected_before_parsing(fifty_thousand: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(ArchiveError, match="50,000 entries"):
        read_all(fifty_thousand, ArchiveLimits(max_entries=1000))
    assert time.perf_counter() - start < 0.2  # from the end record, before zipfile parses


def test_end_record_that_understates_the_count_is_still_caught(fifty_thousand: bytes) -> None:
    data = bytearray(fifty_thousand)
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<2H", data, end + 8, 5, 5)  # claim 5 entries
    stream = CountingReader(bytes(data))
    start = time.perf_counter()
    with pytest.raises(ArchiveError, match="more than 1,000 entries"):
        list(read_zip_images(stream, ArchiveLimits(max_entries=1000)))
    # Refused from the first 1,001 directory headers: zipfile never parsed the 50,000, and only a
    # small part of the zip was read (issue 20: a lying 1 M-entry zip cost +650 MB and 10 s).
    assert time.perf_counter() - start < 0.5
    assert stream.bytes_read < len(data) // 4


class CountingReader(io.BytesIO):
    """A BytesIO that counts the bytes handed out by read()."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


# ---- broken and unusual zips --------------------------------------------------------------------


def test_encrypted_entries_give_a_clear_message() -> None:
    data = raw_zip([Entry("a/x.png", b"secret", flags=0x1)])
    with pytest.raises(ArchiveError, match="password") as info:
        read_all(data)
    assert "without a password" in str(info.value)


def test_unsupported_compression_is_skipped_with_advice() -> None:
    data = raw_zip([Entry("a/x.png", b"x", method=9), Entry("a/y.png", b"y")])  # 9 = Deflate64
    images, skipped = read_all(data)
    assert list(images) == ["a/y.png"]
    assert "unsupported compression" in skipped[0][1]


def test_truncated_zip_says_truncated() -> None:
    data = make_zip([(f"a/{i}.png", bytes(range(256)) * 4) for i in range(20)])
    with pytest.raises(ArchiveError, match="truncated") as info:
        read_all(data[: len(data) * 6 // 10])
    assert "try again" in str(info.value)


def test_empty_zip_and_empty_file_say_empty() -> None:
    with pytest.raises(ArchiveError, match="empty"):
        read_all(make_zip([]))
    with pytest.raises(ArchiveError, match="empty"):
        read_all(b"")


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(100), b"hello, world\n" * 10])
def test_not_a_zip_says_so_and_shows_the_layout(content: bytes) -> None:
    with pytest.raises(ArchiveError, match="not a zip") as info:
        read_all(content)
    assert "class folders" in str(info.value)


def test_any_damaged_byte_gives_images_or_archive_error_only() -> None:
    data = make_zip([("a/1.png", b"hello" * 20), ("b/2.png", b"world" * 20)])
    outcomes = {"read": 0, "error": 0}
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            damaged = bytearray(data)
            damaged[i] ^= bit
            try:
                images, _ = read_all(bytes(damaged))
            except ArchiveError:
                outcomes["error"] += 1
            else:
                assert set(images) <= {"a/1.png", "b/2.png"}
                outcomes["read"] += 1
    assert outcomes["error"] > 0 and outcomes["read"] > 0


def test_path_source_works_and_file_objects_are_left_open(tmp_path: Path) -> None:
    data = make_zip([("a/x.png", b"1")])
    path = tmp_path / "upload.zip"
    path.write_bytes(data)
    assert dict(read_zip_images(path)) == {"a/x.png": b"1"}
    assert dict(read_zip_images(str(path))) == {"a/x.png": b"1"}
    stream = io.BytesIO(data)
    assert dict(read_zip_images(stream)) == {"a/x.png": b"1"}
    assert not stream.closed
    with pytest.raises(ArchiveError, match="Could not open"):
        list(read_zip_images(tmp_path / "missing.zip"))
