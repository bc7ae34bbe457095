"""Hostile and careless uploads (issue 20 items 5, 7, 8): decoded-size cap before decoding, HEIC
named, uploads per owner and collision-free, refused uploads deleted, app folders unreadable from
the folder tab with one neutral message, configs holding a relative upload reference."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

import cnnlab.data.folder
from cnnlab.config import DataConfig, to_dict
from cnnlab.data import (
    DATASETS,
    FolderError,
    load_dataset,
    load_image_folder,
    read_zip_images,
    resolve_user_folder,
    uploads,
)
from cnnlab.data.folder_cache import prune
from cnnlab.recipes import default_run_config


def png(colour: tuple[int, int, int], side: int = 4) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buffer, "PNG")
    return buffer.getvalue()


def class_zip(per_class: int = 4, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
            for i in range(per_class):
                zf.writestr(f"{name}/{i}.png", png(colour))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def app_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "home" / ".cache" / "cnnlab" / "cache"))
    monkeypatch.setenv("CNNLAB_RUNS", str(tmp_path / "home" / ".cache" / "cnnlab" / "runs"))
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "home" / ".cache" / "cnnlab" / "data"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


# ---- item 5: a small zip cannot exhaust the server ----------------------------------------------


def test_many_tiny_pngs_are_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = png((9, 9, 9), side=1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(2000):
            zf.writestr(f"c{i % 2}/{i}.png", tiny)
    path = tmp_path / "tiny.zip"
    path.write_bytes(buffer.getvalue())

    def must_not_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(cnnlab.data.folder, "open_image", must_not_decode)
    cap = 2000 * 64 * 64 * 3 - 1  # one byte short of what 2,000 images at 64 px decode to
    with pytest.raises(FolderError) as err:
        load_image_folder(
            path, image_size=64, channels=None, cache_dir=tmp_path, max_decoded_bytes=cap
        )
    message = str(err.value)
    assert "2,000 images at 64x64" in message and "would decode to 23 MB" in message
    assert "limit of 23 MB" in message and "at most 63 pixels" in message
    assert not list(tmp_path.glob("folder-*.pt"))  # nothing cached either


def test_the_default_cap_refuses_the_issue_example_size() -> None:
    # 20,000 images at 128 px x 3 channels = 983 MB decoded (issue 20: a 4.1 GB server peak).
    with pytest.raises(FolderError, match="more than the limit of 512 MB"):
        cnnlab.data.folder.check_decoded_size(20_000, 128, 3, cnnlab.data.folder.MAX_DECODED_BYTES)
    cnnlab.data.folder.check_decoded_size(60_000, 32, 3, cnnlab.data.folder.MAX_DECODED_BYTES)


def test_the_decoded_cache_is_bounded(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"folder-{i}.pt").write_bytes(b"x" * 100)
    keep = tmp_path / "folder-0.pt"  # the oldest, but the one just written
    prune(tmp_path, keep=keep, max_bytes=250)
    left = sorted(p.name for p in tmp_path.glob("folder-*.pt"))
    assert keep.name in left and len(left) == 2


def test_concurrent_saves_of_the_same_bytes_both_succeed() -> None:
    data = class_zip(per_class=50)
    results: list[uploads.Upload] = []
    errors: list[BaseException] = []

    def save(owner: str) -> None:
        try:
            for _ in range(20):
                results.append(uploads.save_upload(io.BytesIO(data), "pets.zip", owner))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=("same-session",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 80
    assert len({r.ref for r in results}) == 1 and results[0].path.read_bytes() == data
    assert not list(results[0].path.parent.parent.glob(".part-*"))  # no temporary files left


def test_an_upload_over_the_limit_is_refused_and_nothing_is_kept() -> None:
    with pytest.raises(uploads.UploadError, match="the limit is 1 MB"):
        uploads.save_upload(b"x" * (2**20 + 1), "big.zip", "me", max_bytes=2**20)
    assert not any(p.is_file() for p in uploads.uploads_dir().rglob("*"))


def test_a_refused_upload_is_deleted() -> None:
    saved = uploads.save_upload(b"PK\x03\x04 not really a zip", "bad.zip", "me")
    with pytest.raises(ValueError):
        load_dataset(DataConfig(name="folder", path=saved.ref), owner="me")
    uploads.discard(saved.ref)
    assert not saved.path.exists() and not saved.path.parent.exists()


# ---- item 7: uploads are private; the app's folders are not readable as folders ------------------


def test_an_upload_loads_only_for_its_owner() -> None:
    saved = uploads.save_upload(class_zip(), "pets.zip", "alice")
    cfg = DataConfig(name="folder", path=saved.ref, image_size=8)
    assert load_dataset(cfg, owner="alice").class_names == ["blue", "red"]
    with pytest.raises(uploads.UploadError, match="not available"):
        load_dataset(cfg, owner="bob")
    with pytest.raises(uploads.UploadError):  # nor by its absolute path
        load_dataset(replace(cfg, path=str(saved.path)), owner="bob")


@pytest.mark.parametrize("where", ["CNNLAB_CACHE", "CNNLAB_RUNS", "CNNLAB_DATA"])
def test_the_folder_tab_refuses_the_apps_own_folders(app_dirs: Path, where: str) -> None:
    import os

    inside = Path(os.environ[where]) / "uploads" / "x"
    inside.mkdir(parents=True)
    (inside / "a.zip").write_bytes(class_zip())
    with pytest.raises(ValueError, match="cannot be used"):
        resolve_user_folder(str(inside / "a.zip"), app_dirs)
    link = app_dirs / "innocent"  # a link from the root into the cache resolves there too
    link.symlink_to(inside)
    with pytest.raises(ValueError, match="cannot be used"):
        resolve_user_folder("innocent", app_dirs)


def test_folder_tab_messages_are_neutral_and_long_names_do_not_crash(app_dirs: Path) -> None:
    (app_dirs / "real").mkdir()
    (app_dirs / "file.txt").write_text("x")
    messages = set()
    for text in ["missing", "file.txt", "/etc", "a" * 300, "real/" + "b" * 300 + "/c"]:
        with pytest.raises(ValueError) as err:
            resolve_user_folder(text, app_dirs)
        messages.add(str(err.value))
    assert len(messages) == 1  # missing, not a folder, outside, too long: the same words
    assert resolve_user_folder("real", app_dirs) == app_dirs / "real"


# ---- item 8: relative upload references, HEIC named ---------------------------------------------


def test_a_runs_config_holds_a_relative_upload_reference() -> None:
    saved = uploads.save_upload(class_zip(), "my pets.zip", "alice")
    cfg = replace(default_run_config("folder"), data=DataConfig(name="folder", path=saved.ref))
    text = json.dumps(to_dict(cfg))
    assert (
        str(uploads.uploads_dir()) not in text and "/" + saved.path.name not in text.split(":")[0]
    )
    assert saved.ref.startswith("upload:") and saved.ref.endswith("/my-pets.zip")
    again = load_dataset(cfg.data, owner="alice")  # still loadable by its owner
    assert again.source == saved.ref and again.num_classes == 2


def test_heic_photos_are_named_in_the_skipped_list(tmp_path: Path) -> None:
    data = class_zip(extra={"red/photo.HEIC": b"\x00\x00\x00\x18ftypheic"})
    skipped: list[tuple[str, str]] = []
    names = [name for name, _ in read_zip_images(io.BytesIO(data), skipped=skipped)]
    assert "red/photo.HEIC" not in names
    assert ("red/photo.HEIC", "HEIC is not supported: convert to JPEG") in skipped
    folder = tmp_path / "pets"
    (folder / "red").mkdir(parents=True)
    (folder / "blue").mkdir()
    for i in range(2):
        (folder / "red" / f"{i}.png").write_bytes(png((200, 0, 0)))
        (folder / "blue" / f"{i}.png").write_bytes(png((0, 0, 200)))
    (folder / "red" / "IMG_1.heic").write_bytes(b"heic")
    found = load_image_folder(folder, image_size=4, channels=None, cache_dir=tmp_path / "c")
    assert ("red/IMG_1.heic", "HEIC is not supported: convert to JPEG") in found.skipped


# ---- item 2: one registration per dataset ---------------------------------------------------------


def test_every_dataset_registers_all_its_facts() -> None:
    for name, info in DATASETS.items():
        assert info.name == name and info.title and len(info.description) > 20
        assert info.default_image_size >= 8 and callable(info.loader)
        assert isinstance(info.download_bytes, int)
        assert (info.download_bytes > 0) == (not info.offline), name
        assert info.recipe.model.name and info.recipe.train.epochs > 0
        if info.augment.hflip:
            assert info.hflip_ok, name
        assert default_run_config(name).train == info.recipe.train
        assert default_run_config(name).data.name == name


def test_a_dataset_registered_in_one_place_shows_up_everywhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from cnnlab import cli
    from cnnlab.config import AugmentConfig, ModelConfig, RunConfig, TrainConfig
    from cnnlab.data import DatasetInfo, RawImages, dataset_status, default_augment
    from cnnlab.data.types import register_dataset

    def load_checkers(cfg: DataConfig, root: Path) -> RawImages:
        x = torch.zeros(40, 1, 8, 8, dtype=torch.uint8)
        x[::2, :, ::2, ::2] = 255  # class 0: a checkerboard, class 1: black
        return RawImages(["board", "black"], x, torch.arange(40) % 2, source="made in a test")

    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))  # undone after the test
    recipe = RunConfig(model=ModelConfig(name="lenet5"), train=TrainConfig(epochs=3))
    register_dataset(
        DatasetInfo(
            name="checkers",
            title="Checkers (a test set)",
            description="generated in a test; two classes of 8x8 patterns",
            offline=True,
            default_image_size=8,
            hflip_ok=True,
            download_bytes=0,
            augment=AugmentConfig(hflip=True),
            recipe=recipe,
            loader=load_checkers,
        )
    )
    assert "checkers" in DATASETS.names()
    assert default_run_config("checkers").model.name == "lenet5"
    assert default_run_config("checkers").train.epochs == 3
    assert default_augment("checkers") == AugmentConfig(hflip=True)
    assert dataset_status("checkers")[0]
    ds = load_dataset(DataConfig(name="checkers"))
    assert ds.title == "Checkers (a test set)" and ds.hflip_ok and ds.num_classes == 2
    assert cli.main(["datasets"]) == 0
    assert "Checkers (a test set)" in capsys.readouterr().out
