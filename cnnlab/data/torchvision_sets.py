"""The torchvision sets: MNIST, Fashion-MNIST, KMNIST, CIFAR-10, CIFAR-100, SVHN.

They are read from the data root (`DataConfig.root` or `default_data_root()`, env `CNNLAB_DATA`);
when missing they are downloaded into a temporary sibling folder and moved into place only after
torchvision's checksum and decoding succeeded, so a broken download never looks like a dataset.
Their decoded tensors are cached as one `.pt` in `default_cache_dir()` keyed by the files' size and
mtime (MNIST: ~1-2 s cold, ~0.3 s warm, including split and statistics). CIFAR-10 is also read from
`cifar10-jpg.zip` (class folders of JPEGs) in the data root when torchvision's files are absent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import torch

from cnnlab.config import (
    AugmentConfig,
    DataConfig,
    RunConfig,
)
from cnnlab.data.tensor_cache import cache_file, read_cache, write_cache
from cnnlab.data.types import (
    OFFLINE_ALTERNATIVES,
    DatasetInfo,
    DatasetUnavailable,
    Loader,
    RawImages,
    StatusCheck,
    register_dataset,
)

_IDX_FILES = tuple(  # the uncompressed MNIST-format files torchvision reads
    f"{split}-{kind}-ubyte"
    for split in ("train", "t10k")
    for kind in ("images-idx3", "labels-idx1")
)
_DIGIT_NAMES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = tuple("airplane automobile bird cat deer dog frog horse ship truck".split())


@dataclass(frozen=True)
class _TorchvisionSet:
    """Where torchvision keeps one dataset under the data root, and how to read it."""

    tv_class: str  # class name in torchvision.datasets
    files: tuple[str, ...]  # the files it reads, relative to its root
    archives: tuple[str, ...] = ()  # its downloads, relative to its root: extracted if present
    subdirs: tuple[str, ...] = ("",)  # candidate roots under the data root; downloads go to [0]
    splits: tuple[dict[str, Any], ...] = ({"train": True}, {"train": False})  # (train, test)
    class_names: tuple[str, ...] = ()  # () = torchvision's `.classes`


def _mnist_like(folder: str, class_names: tuple[str, ...] = ()) -> _TorchvisionSet:
    return _TorchvisionSet(
        tv_class=folder,
        files=tuple(f"{folder}/raw/{f}" for f in _IDX_FILES),
        archives=tuple(f"{folder}/raw/{f}.gz" for f in _IDX_FILES),
        class_names=class_names,
    )


_TORCHVISION: dict[str, _TorchvisionSet] = {
    "mnist": _mnist_like("MNIST", _DIGIT_NAMES),
    "fashion-mnist": _mnist_like("FashionMNIST"),
    "kmnist": _mnist_like("KMNIST"),
    "cifar10": _TorchvisionSet(
        "CIFAR10",
        files=tuple(
            f"cifar-10-batches-py/{f}"
            for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
        ),
        archives=("cifar-10-python.tar.gz",),
        class_names=CIFAR10_CLASSES,
    ),
    "cifar100": _TorchvisionSet(
        "CIFAR100",
        files=("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
        archives=("cifar-100-python.tar.gz",),
    ),
    "svhn": _TorchvisionSet(
        "SVHN",
        files=("train_32x32.mat", "test_32x32.mat"),
        subdirs=("SVHN", ""),  # also torchvision's own habit: the .mat files in the root itself
        splits=({"split": "train"}, {"split": "test"}),
        class_names=_DIGIT_NAMES,
    ),
}
CIFAR10_ZIP = "cifar10-jpg.zip"  # train/<class>/*.jpg + test/<class>/*.jpg (as ../shared/data)


def _found_root(spec: _TorchvisionSet, root: Path) -> Path | None:
    """The candidate root holding all of `spec.files`, or None."""
    for sub in spec.subdirs:
        base = root / sub if sub else root
        if all((base / f).is_file() for f in spec.files):
            return base
    return None


def _expected_paths(spec: _TorchvisionSet, root: Path) -> list[str]:
    base = root / spec.subdirs[0] if spec.subdirs[0] else root
    return [str(base / f) for f in spec.files]


def _unavailable_message(name: str, root: Path, reason: str) -> str:
    spec = _TORCHVISION[name]
    files = "\n".join(f"  {p}" for p in _expected_paths(spec, root))
    extra = f"\n  (or {root / CIFAR10_ZIP})" if name == "cifar10" else ""
    return (
        f"Dataset '{name}' is not available: {reason}\n"
        f"Expected these files under the data root {root}:\n{files}{extra}\n"
        f"To get them: on a machine with internet run `python -m cnnlab datasets --download {name}` "
        f"(or load it once in the app), then copy the data folder here; or point the environment "
        f"variable CNNLAB_DATA (or the data root setting) at a folder that has them.\n"
        f"{OFFLINE_ALTERNATIVES}"
    )


def _read_torchvision(spec: _TorchvisionSet, base: Path) -> RawImages:
    import torchvision.datasets as tvd

    cls = getattr(tvd, spec.tv_class)
    parts, names = [], list(spec.class_names)
    for kwargs in spec.splits:
        ds = cls(str(base), download=False, **kwargs)
        parts.append(_tv_tensors(ds))
        names = names or list(ds.classes)
    (x, y), (test_x, test_y) = parts
    return RawImages(names, x, y, test_x, test_y, source=f"{base} (torchvision {spec.tv_class})")


def _tv_tensors(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(x uint8 (N, C, H, W), y int64) from a torchvision dataset's resident arrays."""
    x = torch.as_tensor(np.asarray(ds.data))
    if x.ndim == 3:  # MNIST family: (N, H, W)
        x = x[:, None]
    elif x.shape[-1] == 3:  # CIFAR: (N, H, W, C); SVHN is already (N, C, H, W)
        x = x.permute(0, 3, 1, 2)
    labels = ds.targets if hasattr(ds, "targets") else ds.labels
    return x.to(torch.uint8).contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.int64)


def _download(name: str, root: Path) -> Path:
    """Fetch `name` into `root` via a temporary sibling folder; returns the folder it now lives in.

    Files move into place only after torchvision verified the archives' MD5 and both splits decoded.
    Archives already present (copied by hand) are extracted without network. Every failure becomes
    DatasetUnavailable; the temporary folder is always removed.
    """
    import torchvision.datasets as tvd

    spec = _TORCHVISION[name]
    base = root / spec.subdirs[0] if spec.subdirs[0] else root
    created_root = not root.exists()
    tmp: Path | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".cnnlab-download-{name}-", dir=root))
        for rel in spec.archives:  # hand-copied archives: torchvision checks their MD5 and extracts
            if (base / rel).is_file():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(base / rel, tmp / rel)
        cls = getattr(tvd, spec.tv_class)
        for kwargs in spec.splits:
            cls(str(tmp), download=True, **kwargs)  # downloads, checks MD5, extracts, decodes
        for rel in spec.files:
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, base / rel)
    except Exception as err:  # network, HTTP, checksum, archive, disk: all mean "not available"
        reason = f"the download failed ({type(err).__name__}: {_first_line(err)})"
        if isinstance(err, URLError | ConnectionError) or "urlopen error" in str(err):
            reason += ". Is this machine offline?"
        raise DatasetUnavailable(_unavailable_message(name, root, reason)) from err
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if created_root and root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # it did not exist before this failed attempt
    return base


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return " ".join(lines[:4])[:400] if lines else "no details"


def _load_torchvision(name: str, root: Path) -> RawImages:
    spec = _TORCHVISION[name]
    base = _found_root(spec, root)
    read_error: Exception | None = None
    if base is not None:
        cache = cache_file(name, [base / f for f in spec.files])
        raw = read_cache(cache)
        if raw is not None:
            return raw
        try:
            raw = _read_torchvision(spec, base)
        except Exception as err:  # corrupt or truncated files: fetch fresh ones below
            read_error = err
        else:
            write_cache(cache, raw)
            return raw
    try:
        base = _download(name, root)
    except DatasetUnavailable as err:
        if read_error is not None:
            raise DatasetUnavailable(
                f"{err}\n(The files that are there could not be read: {_first_line(read_error)})"
            ) from read_error
        raise
    raw = _read_torchvision(spec, base)
    write_cache(cache_file(name, [base / f for f in spec.files]), raw)
    return raw


def _torchvision_loader(name: str) -> Loader:
    def load(cfg: DataConfig, root: Path) -> RawImages:
        if name == "cifar10" and _found_root(_TORCHVISION[name], root) is None:
            if (root / CIFAR10_ZIP).is_file():
                return _load_cifar10_zip(root / CIFAR10_ZIP)
        return _load_torchvision(name, root)

    return load


def _load_cifar10_zip(path: Path) -> RawImages:
    from cnnlab.data.user_images import folder_raw

    raw = folder_raw(path, image_size=32, channels=3)
    if sorted(raw.class_names) == sorted(CIFAR10_CLASSES):  # same labels as torchvision's CIFAR10
        order = torch.tensor([CIFAR10_CLASSES.index(c) for c in raw.class_names])
        raw.y = order[raw.y]
        raw.test_y = order[raw.test_y] if raw.test_y is not None else None
        raw.class_names = list(CIFAR10_CLASSES)
    raw.notes.append("CIFAR-10 from JPEG re-encodings: pixels differ slightly from the originals")
    return raw


def _status(name: str) -> StatusCheck:
    def status(root: Path) -> tuple[bool, str]:
        base = _found_root(_TORCHVISION[name], root)
        if base is not None:
            return True, f"found in {base}"
        if name == "cifar10" and (root / CIFAR10_ZIP).is_file():
            return True, f"found {root / CIFAR10_ZIP} (JPEG class folders)"
        expected = _expected_paths(_TORCHVISION[name], root)
        missing = [p for p in expected if not Path(p).is_file()]
        return (
            False,
            f"not in {root} (missing {len(missing)} file(s), e.g. {missing[0]}); "
            "downloads on first use",
        )

    return status


from cnnlab.data.tv_recipes import _AIRNET15, _CIFAR10_LONG, _FASTNET32, _MNIST, _WIDER  # noqa: E402


def _register(
    name: str,
    title: str,
    description: str,
    *,
    side: int,
    hflip_ok: bool,
    download_bytes: int,
    augment: AugmentConfig,
    recipe: RunConfig,
    style: str = "photo",
    long_recipe: RunConfig | None = None,
) -> None:
    register_dataset(
        DatasetInfo(
            name=name,
            title=title,
            description=description,
            offline=False,
            default_image_size=side,
            hflip_ok=hflip_ok,
            download_bytes=download_bytes,
            augment=augment,
            recipe=recipe,
            long_recipe=long_recipe,
            loader=_torchvision_loader(name),
            status=_status(name),
            preprocess_style=style,
        )
    )


# download_bytes: the archives torchvision fetches (sum of their sizes).
_register(
    "mnist",
    "MNIST (handwritten digits, 28x28)",
    "70,000 handwritten digits; downloaded once",
    side=28,
    hflip_ok=False,
    download_bytes=11_594_722,
    augment=AugmentConfig(rotate_degrees=10, translate=0.08),
    recipe=_MNIST,
    style="digit",
)
_register(
    "fashion-mnist",
    "Fashion-MNIST (clothing, 28x28)",
    "70,000 greyscale clothing images in 10 classes; downloaded once",
    side=28,
    hflip_ok=False,
    download_bytes=30_878_645,
    augment=AugmentConfig(translate=0.08),  # clothes are photographed upright
    recipe=replace(_MNIST, model=_WIDER, train=replace(_MNIST.train, epochs=5)),
)
_register(
    "kmnist",
    "Kuzushiji-MNIST (Japanese characters, 28x28)",
    "70,000 cursive Japanese characters in 10 classes; downloaded once",
    side=28,
    hflip_ok=False,
    download_bytes=21_240_888,
    augment=AugmentConfig(rotate_degrees=8, translate=0.08),
    recipe=replace(_MNIST, model=_WIDER, train=replace(_MNIST.train, epochs=4)),
    style="digit",
)
_register(
    "cifar10",
    "CIFAR-10 (photos, 32x32 colour)",
    "60,000 small photos in 10 classes; downloaded once",
    side=32,
    hflip_ok=True,
    download_bytes=170_498_071,
    augment=_AIRNET15.augment,  # 2-pixel crops and mirrors, as its recipes train with
    recipe=_AIRNET15,
    long_recipe=_CIFAR10_LONG,
)
_register(
    "cifar100",
    "CIFAR-100 (photos, 100 classes, 32x32 colour)",
    "60,000 small photos in 100 classes; downloaded once",
    side=32,
    hflip_ok=True,
    download_bytes=169_001_437,
    augment=AugmentConfig(crop_padding=4, hflip=True),
    recipe=_FASTNET32,
)
_register(  # no hflip: a mirrored digit is not the same digit
    "svhn",
    "SVHN (house-number digits, 32x32 colour)",
    "99,289 street-view house-number digits; downloaded once",
    side=32,
    hflip_ok=False,
    download_bytes=246_316_178,
    augment=AugmentConfig(crop_padding=2),
    recipe=replace(
        _FASTNET32,
        augment=AugmentConfig(crop_padding=2),
        train=replace(_FASTNET32.train, epochs=10),
    ),
)
