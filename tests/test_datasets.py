"""Datasets: generated and bundled sets, seeded stratified splits, torchvision loading and caching,
and the offline failure path (clear message, nothing half-downloaded left behind)."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from PIL import Image
from sklearn.datasets import load_digits

import cnnlab.data as D
from cnnlab.config import DataConfig
from cnnlab.data import (
    DATASETS,
    DatasetUnavailable,
    RawImages,
    compute_preprocess,
    core,
    dataset_status,
    load_dataset,
    make_shapes,
    torchvision_sets,
)

TORCHVISION_SETS = ["mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "svhn"]


def _indexed_raw(labels: list[int]) -> RawImages:
    """Images that encode their own index (pixel 0 = i // 256, pixel 1 = i % 256)."""
    n = len(labels)
    i = torch.arange(n)
    x = torch.stack([i // 256, i % 256], 1).to(torch.uint8).view(n, 1, 1, 2)
    return RawImages([f"c{k}" for k in range(max(labels) + 1)], x, torch.tensor(labels))


def _ids(split: D.DataSplit) -> np.ndarray:
    x = split.x.view(len(split), 2).long()
    return (x[:, 0] * 256 + x[:, 1]).numpy()


def _splits(raw: RawImages, **cfg: object) -> tuple[list[D.DataSplit], list[str]]:
    notes: list[str] = []
    return list(core._make_splits(raw, DataConfig(**cfg), notes)), notes  # type: ignore[arg-type]


def test_registry_lists_every_dataset_with_its_info() -> None:
    assert DATASETS.names() == [
        "shapes",
        "digits",
        "mnist",
        "fashion-mnist",
        "kmnist",
        "cifar10",
        "cifar100",
        "svhn",
        "folder",
    ]
    assert DataConfig().name == "shapes"
    assert DATASETS.get("digits").default_image_size == 8
    assert "8x8" in DATASETS.get("digits").title
    assert {n for n, info in DATASETS.items() if info.offline} == {"shapes", "digits", "folder"}
    assert {n for n, info in DATASETS.items() if info.hflip_ok} == {
        "shapes",
        "cifar10",
        "cifar100",
        "folder",
    }
    with pytest.raises(KeyError, match="shapes"):
        load_dataset(DataConfig(name="nope"))


# ---------------------------------------------------------------------------------------- shapes


def test_shapes_are_deterministic_per_seed_balanced_and_differ_across_seeds() -> None:
    x, y = make_shapes(600, 32, seed=3)
    x2, y2 = make_shapes(600, 32, seed=3)
    x3, _ = make_shapes(600, 32, seed=4)
    assert x.shape == (600, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, x3)
    assert torch.bincount(y).tolist() == [100] * len(D.SHAPE_CLASSES)
    # Classes are mixed, not in blocks, and the images use the whole range with contrast.
    assert len(set(y[:12].tolist())) > 2
    contrast = x.float().amax((1, 2, 3)) - x.float().amin((1, 2, 3))
    assert contrast.min() > 60


def test_shapes_generation_is_fast() -> None:
    import time

    make_shapes(60)
    start = time.perf_counter()
    make_shapes(6000, 32, seed=0)
    assert time.perf_counter() - start < 2.0  # ~0.06 s idle, ~0.3 s on a busy 2-core machine


def test_load_shapes_splits_and_preprocess() -> None:
    ds = load_dataset(DataConfig(name="shapes", num_images=1200, seed=1))
    assert ds.class_names == list(D.SHAPE_CLASSES) and ds.num_classes == 6
    assert ds.input_shape == (3, 32, 32) and ds.preprocess.input_shape == (3, 32, 32)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (864, 96, 240)
    for split in (ds.train, ds.val, ds.test):  # stratified: balanced classes in every split
        counts = torch.bincount(split.y, minlength=6)
        assert counts.max() - counts.min() <= 1
    assert ds.hflip_ok and ds.notes

    small = load_dataset(DataConfig(name="shapes", num_images=60, image_size=20))
    assert small.input_shape == (3, 20, 20) and "20x20" in small.title


# ---------------------------------------------------------------------------------------- splits


def test_stratified_split_keeps_class_proportions_without_overlap() -> None:
    labels = [0] * 500 + [1] * 300 + [2] * 200
    (train, val, test), notes = _splits(_indexed_raw(labels), val_fraction=0.1, test_fraction=0.2)
    ids = [_ids(s) for s in (train, val, test)]
    assert sorted(np.concatenate(ids).tolist()) == list(range(1000))  # a partition: no overlap
    assert (len(train), len(val), len(test)) == (720, 80, 200)
    expected_test = np.array([500, 300, 200]) * 0.2
    expected_val = np.array([400, 240, 160]) * 0.1
    assert np.abs(np.bincount(test.y.numpy()) - expected_test).max() <= 1
    assert np.abs(np.bincount(val.y.numpy()) - expected_val).max() <= 1
    for split, ids_ in zip((train, val, test), ids, strict=True):  # labels travel with images
        assert torch.equal(split.y, torch.tensor(labels)[ids_])
    assert not any(n.startswith("warning") for n in notes)
    again, _ = _splits(_indexed_raw(labels), val_fraction=0.1, test_fraction=0.2)
    assert all(np.array_equal(a, _ids(b)) for a, b in zip(ids, again, strict=True))  # seeded


def test_official_test_split_is_kept_and_val_comes_from_train() -> None:
    raw = _indexed_raw([k % 5 for k in range(200)])
    raw.test_x, raw.test_y = raw.x[:30].clone(), raw.y[:30].clone()
    (train, val, test), notes = _splits(raw, val_fraction=0.25)
    assert torch.equal(test.x, raw.test_x)
    assert (len(train), len(val)) == (150, 50)
    assert np.bincount(val.y.numpy()).tolist() == [10] * 5
    assert not set(_ids(train)) & set(_ids(val))


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 2],  # three images: one per split
        [0] * 10 + [1] * 10 + [2],  # a class with one image
        [0, 0, 0, 0, 1, 1, 1, 1],  # too small for stratified test/val of 2 classes each
    ],
)
def test_tiny_or_imbalanced_sets_fall_back_to_a_plain_split_with_a_note(labels: list[int]) -> None:
    (train, val, test), notes = _splits(_indexed_raw(labels))
    assert len(train) and len(val) and len(test)
    assert sorted(np.concatenate([_ids(s) for s in (train, val, test)]).tolist()) == list(
        range(len(labels))
    )
    assert any(n.startswith("warning") and "not stratified" in n for n in notes)


def test_too_few_images_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too few images"):
        _splits(_indexed_raw([0, 1]))


def test_limit_keeps_a_stratified_subset_of_train_only() -> None:
    labels = [0] * 600 + [1] * 400
    (train, val, test), notes = _splits(_indexed_raw(labels), limit=100)
    assert len(train) == 100 and np.bincount(train.y.numpy()).tolist() == [60, 40]
    assert (len(val), len(test)) == (80, 200)
    assert any("limit 100" in n for n in notes)


def test_bad_fractions_are_rejected() -> None:
    with pytest.raises(ValueError, match="fraction"):
        load_dataset(DataConfig(name="digits", val_fraction=0.0))


def test_preprocess_matches_float_statistics() -> None:
    x = make_shapes(300, 16, seed=2)[0]
    pre = compute_preprocess(x)
    xf = x.double() / 255
    assert np.allclose(pre.mean, xf.mean((0, 2, 3)).numpy(), atol=1e-5)
    assert np.allclose(pre.std, xf.std((0, 2, 3), unbiased=False).numpy(), atol=1e-5)
    assert not compute_preprocess(torch.zeros(4, 1, 3, 3, dtype=torch.uint8)).light_background
    white = compute_preprocess(torch.full((4, 1, 3, 3), 230, dtype=torch.uint8))
    assert white.light_background and white.std == (pytest.approx(1 / 255),)  # never 0


# ---------------------------------------------------------------------------------------- digits


def test_digits_match_scikit_learn() -> None:
    ds = load_dataset(DataConfig(name="digits"))
    ref = load_digits()
    assert ds.input_shape == (1, 8, 8) and not ds.hflip_ok and "8x8" in ds.title
    assert ds.class_names == [str(d) for d in range(10)]
    x = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    y = torch.cat([ds.train.y, ds.val.y, ds.test.y])
    assert len(y) == len(ref.target) == 1797
    ours = sorted(zip(x.view(-1, 64).tolist(), y.tolist(), strict=True))
    expected = np.round(ref.data * 255 / 16).astype(np.uint8)
    theirs = sorted(zip(expected.tolist(), ref.target.tolist(), strict=True))
    assert ours == theirs


# ---------------------------------------------------------------------------------------- folder


def test_folder_of_images(tmp_path: Path) -> None:
    pytest.importorskip("cnnlab.data.folder")
    colours = {"blue": (20, 40, 220), "red": (220, 30, 30)}
    for name, colour in colours.items():
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (10 + i, 12), colour).save(tmp_path / "imgs" / name / f"{i}.png")
    (tmp_path / "imgs" / "red" / "broken.png").write_bytes(b"not an image")
    ds = load_dataset(DataConfig(name="folder", path=str(tmp_path / "imgs"), image_size=16))
    assert ds.class_names == ["blue", "red"]
    assert ds.input_shape == (3, 16, 16)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 12
    assert all(len(s) for s in (ds.train, ds.val, ds.test))
    assert any("skipped 1" in n for n in ds.notes)
    with pytest.raises(ValueError, match="path"):
        load_dataset(DataConfig(name="folder"))


# ----------------------------------------------------------------------------------- torchvision


def _write_idx(raw: Path, prefix: str, n: int) -> None:
    """Tiny valid MNIST idx files: n images of 28x28, labels cycling 0..9."""
    raw.mkdir(parents=True, exist_ok=True)
    images = torch.arange(n * 784, dtype=torch.int64).remainder(251).to(torch.uint8)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">iiii", 2051, n, 28, 28) + images.numpy().tobytes()
    )
    labels = bytes(i % 10 for i in range(n))
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, n) + labels)


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_missing_dataset_offline_raises_a_helpful_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(self: object) -> None:
        raise URLError("no network")

    monkeypatch.setattr(tvd.MNIST, "download", no_network)
    root = tmp_path / "data"
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset(DataConfig(name="mnist", root=str(root)))
    message = str(info.value)
    for expected in (
        "'mnist'",
        str(root / "MNIST" / "raw" / "train-images-idx3-ubyte"),
        "t10k-labels-idx1-ubyte",
        "no network",
        "offline",
        "python -m cnnlab datasets --download mnist",
        "CNNLAB_DATA",
        "'shapes'",
        "'digits'",
        "folder",
    ):
        assert expected in message
    assert _leftovers(root) == []


@pytest.mark.parametrize("name", TORCHVISION_SETS)
def test_real_download_without_network_fails_fast_and_cleanly(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # torchvision's own download code runs
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(DatasetUnavailable, match=f"--download {name}"):
        load_dataset(DataConfig(name=name, root=str(root)))
    assert _leftovers(root) == []
    assert dataset_status(name, root)[0] is False


def test_download_moves_files_into_place_only_when_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"

    def half_download(self: tvd.MNIST) -> None:  # writes some files, then the network drops
        _write_idx(Path(self.raw_folder), "train", 100)
        raise ConnectionResetError("connection reset")

    monkeypatch.setattr(tvd.MNIST, "download", half_download)
    with pytest.raises(DatasetUnavailable, match="connection reset"):
        load_dataset(DataConfig(name="mnist", root=str(root)))
    assert _leftovers(root) == []

    def good_download(self: tvd.MNIST) -> None:
        _write_idx(Path(self.raw_folder), "train", 100)
        _write_idx(Path(self.raw_folder), "t10k", 20)

    monkeypatch.setattr(tvd.MNIST, "download", good_download)
    ds = load_dataset(DataConfig(name="mnist", root=str(root)))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (90, 10, 20)
    assert ds.input_shape == (1, 28, 28) and not ds.hflip_ok
    assert sorted(_leftovers(root)) == [
        "MNIST",
        "MNIST/raw",
        "MNIST/raw/t10k-images-idx3-ubyte",
        "MNIST/raw/t10k-labels-idx1-ubyte",
        "MNIST/raw/train-images-idx3-ubyte",
        "MNIST/raw/train-labels-idx1-ubyte",
    ]
    assert dataset_status("mnist", root) == (True, f"found in {root}")


def test_truncated_files_are_not_taken_for_a_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "data" / "MNIST" / "raw"
    _write_idx(raw, "train", 100)
    _write_idx(raw, "t10k", 20)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])  # e.g. an interrupted copy

    def no_network(self: object) -> None:
        raise URLError("no network")

    monkeypatch.setattr(tvd.MNIST, "download", no_network)
    with pytest.raises(DatasetUnavailable, match="could not be read"):
        load_dataset(DataConfig(name="mnist", root=str(tmp_path / "data")))
    assert images.stat().st_size == 5000  # the user's files are left alone
    assert not list((tmp_path / "cache").rglob("*.pt"))


def test_dataset_status_is_cheap_and_explains(tmp_path: Path) -> None:
    ok, why = dataset_status("mnist", tmp_path)
    assert not ok and str(tmp_path / "MNIST" / "raw") in why
    assert dataset_status("shapes", tmp_path)[0] and dataset_status("digits")[0]
    (tmp_path / "cifar10-jpg.zip").write_bytes(b"")  # status checks presence only
    ok, why = dataset_status("cifar10", tmp_path)
    assert ok and "cifar10-jpg.zip" in why
    assert not dataset_status("cifar100", tmp_path)[0]


def test_cache_is_written_atomically_and_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    _write_idx(root / "MNIST" / "raw", "train", 50)
    _write_idx(root / "MNIST" / "raw", "t10k", 10)
    first = load_dataset(DataConfig(name="mnist", root=str(root)))
    cache_files = list((tmp_path / "cache" / "datasets").iterdir())
    assert [p.suffix for p in cache_files] == [".pt"]  # no temporary files left

    def must_not_decode(*args: object) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(torchvision_sets, "_read_torchvision", must_not_decode)
    second = load_dataset(DataConfig(name="mnist", root=str(root)))
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.y, second.test.y)


def test_real_mnist_loads_and_the_cached_load_matches(real_data: Path) -> None:
    if not dataset_status("mnist", real_data)[0]:
        pytest.skip(f"no MNIST under {real_data}")
    first = load_dataset(DataConfig(name="mnist", root=str(real_data)))
    assert (len(first.train) + len(first.val), len(first.test)) == (60000, 10000)
    assert first.input_shape == (1, 28, 28) and first.num_classes == 10
    assert first.train.x.dtype == torch.uint8 and first.train.y.dtype == torch.int64
    assert first.preprocess.mean[0] == pytest.approx(0.1307, abs=2e-3)
    assert np.bincount(first.test.y.numpy()).tolist()[:3] == [980, 1135, 1032]
    second = load_dataset(DataConfig(name="mnist", root=str(real_data)))
    for a, b in zip(
        (first.train, first.val, first.test), (second.train, second.val, second.test), strict=True
    ):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert second.preprocess == first.preprocess
