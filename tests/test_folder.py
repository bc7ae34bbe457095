"""load_image_folder on folders and zips built in code: layouts, junk, broken images, channels,
root confinement and the on-disk cache; plus one check of the real CIFAR-10 zip."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cnnlab.data.folder
from cnnlab.data.folder import FolderError, FolderImages, load_image_folder

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def png(colour: tuple[int, ...] | int, mode: str = "RGB", size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def write_tree(base: Path, files: dict[str, bytes | None]) -> Path:
    """Create files (None = an empty folder) under base."""
    for name, data in files.items():
        path = base / name
        if data is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return base


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def load(path: Path, tmp_path: Path, **options: object) -> FolderImages:
    kwargs: dict = {"image_size": 4, "channels": None, "cache_dir": tmp_path / "cache"}
    return load_image_folder(path, **(kwargs | options))


COLOURS = {"blue/1.png": png(BLUE), "red/1.png": png(RED), "red/2.png": png(RED)}


# ---- layouts ----------------------------------------------------------------------------------


def test_class_folders_give_sorted_classes_labels_and_pixels(tmp_path: Path) -> None:
    result = load(write_tree(tmp_path / "data", dict(COLOURS)), tmp_path)
    assert result.class_names == ["blue", "red"]
    assert result.train_x.shape == (3, 3, 4, 4) and result.train_x.dtype == torch.uint8
    assert result.train_y.tolist() == [0, 1, 1] and result.train_y.dtype == torch.int64
    assert result.train_x[0, :, 0, 0].tolist() == list(BLUE)
    assert result.train_x[2, :, 3, 3].tolist() == list(RED)
    assert result.test_x is None and result.test_y is None
    assert result.skipped == []


def test_train_test_split_inside_a_wrapper_folder_of_a_zip(tmp_path: Path) -> None:
    files = {
        "mydata/train/cat/1.png": png(RED),
        "mydata/train/dog/1.png": png(BLUE),
        "mydata/train/dog/2.png": png(BLUE),
        "mydata/test/cat/9.png": png(RED),
        "mydata/test/dog/9.png": png(BLUE),
        "mydata/val/cat/5.png": png(RED),
    }
    result = load(write_zip(tmp_path / "up.zip", files), tmp_path)
    assert result.class_names == ["cat", "dog"]
    assert result.train_y.tolist() == [0, 1, 1]
    assert result.test_x is not None and result.test_x.shape == (2, 3, 4, 4)
    assert result.test_y is not None and result.test_y.tolist() == [0, 1]
    assert result.test_x[1, :, 0, 0].tolist() == list(BLUE)
    assert result.skipped == [("mydata/val/", "only train/ and test/ are read; folder ignored")]


def test_nested_subfolders_count_for_their_class(tmp_path: Path) -> None:
    files = {"cat/a.png": png(RED), "cat/indoor/b.png": png(RED), "cat/x/y/c.png": png(RED)}
    result = load(write_tree(tmp_path / "d", files | {"dog/a.png": png(BLUE)}), tmp_path)
    assert result.class_names == ["cat", "dog"]
    assert result.train_y.tolist() == [0, 0, 0, 1]


def test_test_images_of_classes_without_training_images_are_skipped(tmp_path: Path) -> None:
    files = {
        "train/cat/1.png": png(RED),
        "train/dog/1.png": png(BLUE),
        "test/cat/2.png": png(RED),
        "test/horse/2.png": png(GREEN),
    }
    result = load(write_tree(tmp_path / "d", files), tmp_path)
    assert result.test_y is not None and result.test_y.tolist() == [0]
    assert ("test/horse/2.png", "class 'horse' has no training images; skipped") in result.skipped


def test_test_folder_without_train_folder_is_an_error(tmp_path: Path) -> None:
    files = {"test/cat/1.png": png(RED), "test/dog/1.png": png(BLUE), "other/x/1.png": png(RED)}
    with pytest.raises(FolderError, match="no train/ folder"):
        load(write_tree(tmp_path / "d", files), tmp_path)


# ---- junk, broken images, empty classes -------------------------------------------------------


def test_junk_is_ignored_and_unreadable_images_are_listed_not_fatal(tmp_path: Path) -> None:
    files = dict(COLOURS) | {
        "__MACOSX/red/._1.png": b"resource fork",
        "red/.DS_Store": b"finder",
        "readme.txt": b"about this dataset",
        "red/broken.png": b"<html>not really</html>",
    }
    result = load(write_zip(tmp_path / "up.zip", files), tmp_path)
    assert result.class_names == ["blue", "red"]
    assert len(result.train_y) == 3
    [(name, reason)] = result.skipped
    assert name == "red/broken.png" and "web page" in reason


def test_empty_and_unreadable_class_folders_are_dropped_and_listed(tmp_path: Path) -> None:
    files = dict(COLOURS) | {"bird": None, "fish/bad.png": b"\x89PNG\r\n\x1a\n garbage"}
    result = load(write_tree(tmp_path / "d", files), tmp_path)
    assert result.class_names == ["blue", "red"]
    skipped = dict(result.skipped)
    assert skipped["bird/"] == "no readable images; class dropped"
    assert skipped["fish/"] == "no readable images; class dropped"
    assert "truncated" in skipped["fish/bad.png"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"cat/1.png": png(RED), "cat/2.png": png(RED)}, "at least 2 class folders"),
        ({"1.png": png(RED), "2.png": png(BLUE)}, "found 0"),
        ({"cat/1.png": png(RED), "dog/1.png": b"broken"}, "1 image\\(s\\) could not be read"),
        ({"notes.txt": b"no images here"}, "No images found"),
    ],
)
def test_fewer_than_two_usable_classes_is_a_clear_error(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    with pytest.raises(FolderError, match=message) as info:
        load(write_tree(tmp_path / "d", dict(files)), tmp_path)
    assert "<class>/<image>" in str(info.value)  # shows the expected layout


# ---- channels -------------------------------------------------------------------------------


def test_auto_channels_is_one_when_every_image_is_gray(tmp_path: Path) -> None:
    files = {"a/1.png": png(50, "L"), "b/1.png": png((90, 90, 90))}  # RGB with equal channels
    result = load(write_tree(tmp_path / "d", files), tmp_path)
    assert result.train_x.shape == (2, 1, 4, 4)
    assert result.train_x[:, 0, 0, 0].tolist() == [50, 90]


def test_auto_channels_is_three_when_any_image_has_colour(tmp_path: Path) -> None:
    files = {"a/1.png": png(50, "L"), "b/1.png": png(RED)}
    result = load(write_tree(tmp_path / "d", files), tmp_path)
    assert result.train_x.shape == (2, 3, 4, 4)
    assert result.train_x[0, :, 0, 0].tolist() == [50, 50, 50]


def test_explicit_channels_convert_colour_to_luma(tmp_path: Path) -> None:
    result = load(write_tree(tmp_path / "d", dict(COLOURS)), tmp_path, channels=1)
    assert result.train_x.shape == (3, 1, 4, 4)
    luma = Image.new("RGB", (1, 1), BLUE).convert("L").getpixel((0, 0))  # ITU-R 601: 29
    assert result.train_x[0, 0, 0, 0] == luma


# ---- paths and root confinement ---------------------------------------------------------------


def test_path_outside_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_tree(root / "inside", dict(COLOURS))
    write_tree(tmp_path / "outside", dict(COLOURS))
    assert load(root / "inside", tmp_path, root=root).class_names == ["blue", "red"]
    with pytest.raises(FolderError, match="outside the data folder"):
        load(root / ".." / "outside", tmp_path, root=root)
    (root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(FolderError, match="outside the data folder"):
        load(root / "link", tmp_path, root=root)


def test_symlinks_inside_a_folder_may_not_escape_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    data = write_tree(root / "d", dict(COLOURS))
    secret = write_tree(tmp_path / "secret", {"x.png": png(GREEN)})
    (data / "red" / "escape.png").symlink_to(secret / "x.png")
    (data / "green").symlink_to(secret)
    result = load(data, tmp_path, root=root)
    assert len(result.train_y) == 3
    assert ("red/escape.png", "symbolic link outside the data folder") in result.skipped
    assert ("green/", "symbolic link to a folder; not followed") in result.skipped


@pytest.mark.parametrize(
    ("options", "message"),
    [({"image_size": 0}, "image_size"), ({"channels": 2}, "channels")],
)
def test_bad_options_are_refused(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(FolderError, match=message):
        load(write_tree(tmp_path / "d", dict(COLOURS)), tmp_path, **options)


def test_missing_path_and_non_zip_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FolderError, match="does not exist"):
        load(tmp_path / "nope", tmp_path)
    not_zip = tmp_path / "photo.zip"
    not_zip.write_bytes(png(RED))
    with pytest.raises(FolderError, match="not a zip"):
        load(not_zip, tmp_path)


# ---- cache ------------------------------------------------------------------------------------


def assert_same(a: FolderImages, b: FolderImages) -> None:
    assert a.class_names == b.class_names and a.skipped == b.skipped
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.train_y, b.train_y)
    assert (a.test_x is None) == (b.test_x is None)


def test_second_load_comes_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_tree(tmp_path / "d", dict(COLOURS) | {"red/bad.png": b"junk"})
    first = load(data, tmp_path)

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(cnnlab.data.folder, "open_image", no_decoding)
    assert_same(load(data, tmp_path), first)
    cache_files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cache_files) == 1 and cache_files[0].endswith(".pt")  # no temp files left


def test_zip_cache_is_keyed_by_content_not_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load(write_zip(tmp_path / "a.zip", dict(COLOURS)), tmp_path)
    copy = tmp_path / "renamed.zip"
    copy.write_bytes((tmp_path / "a.zip").read_bytes())
    monkeypatch.setattr(cnnlab.data.folder, "open_image", None)  # any decode would fail
    assert_same(load(copy, tmp_path), first)


def test_changed_files_options_and_corrupt_cache_are_decoded_again(tmp_path: Path) -> None:
    data = write_tree(tmp_path / "d", dict(COLOURS))
    assert load(data, tmp_path).train_x[0, :, 0, 0].tolist() == list(BLUE)
    (data / "blue" / "1.png").write_bytes(png(GREEN, size=(9, 9)))  # new size and mtime
    assert load(data, tmp_path).train_x[0, :, 0, 0].tolist() == list(GREEN)
    assert load(data, tmp_path, image_size=6).train_x.shape == (3, 3, 6, 6)
    for cache_file in (tmp_path / "cache").iterdir():
        cache_file.write_bytes(b"not a torch file")
    assert load(data, tmp_path).train_x[0, :, 0, 0].tolist() == list(GREEN)


def test_zip_and_folder_with_the_same_files_give_the_same_tensors(tmp_path: Path) -> None:
    files = dict(COLOURS) | {"red/3.png": png(GREEN, size=(13, 5))}
    from_dir = load(write_tree(tmp_path / "d", files), tmp_path)
    from_zip = load(write_zip(tmp_path / "d.zip", files), tmp_path)
    assert_same(from_dir, from_zip)


def test_directory_cache_key_notices_new_files(tmp_path: Path) -> None:
    data = write_tree(tmp_path / "d", dict(COLOURS))
    assert len(load(data, tmp_path).train_y) == 3
    (data / "blue" / "2.png").write_bytes(png(BLUE))
    os.utime(data / "blue" / "2.png")
    assert len(load(data, tmp_path).train_y) == 4


# ---- real data --------------------------------------------------------------------------------


@pytest.mark.slow
def test_cifar10_zip_counts_and_shapes(real_data: Path, tmp_path: Path) -> None:
    zip_path = real_data / "cifar10-jpg.zip"
    start = time.perf_counter()
    result = load_image_folder(zip_path, image_size=32, channels=None, cache_dir=tmp_path)
    first = time.perf_counter() - start
    assert result.class_names == sorted(
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    )
    assert result.train_x.shape == (50_000, 3, 32, 32)
    assert result.test_x is not None and result.test_x.shape == (10_000, 3, 32, 32)
    assert np.bincount(result.train_y.numpy()).tolist() == [5000] * 10
    assert result.test_y is not None
    assert np.bincount(result.test_y.numpy()).tolist() == [1000] * 10
    assert result.skipped == []
    start = time.perf_counter()
    again = load_image_folder(zip_path, image_size=32, channels=None, cache_dir=tmp_path)
    cached = time.perf_counter() - start
    assert torch.equal(again.test_x, result.test_x)  # type: ignore[arg-type]
    assert cached < 5.0, f"cached load took {cached:.1f} s (first load {first:.1f} s)"
