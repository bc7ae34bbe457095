"""Image datasets as whole uint8 tensors, split train/val/test, with the preprocessing they imply.

`load_dataset(DataConfig)` is the one entry point. Each registered dataset has a loader that returns
`RawImages` (images, labels, and the official test split when the set has one); `load_dataset` then
makes the seeded, stratified splits and measures the per-channel mean/std of the train split.

Offline sets: `shapes` (generated here) and `digits` (bundled with scikit-learn). The torchvision sets
are read from the data root (`DataConfig.root` or `default_data_root()`, env `CNNLAB_DATA`); when
missing they are downloaded into a temporary sibling folder and moved into place only after
torchvision's checksum and decoding succeeded, so a broken download never looks like a dataset.
Their decoded tensors are cached as one `.pt` in `default_cache_dir()` keyed by the files' size and
mtime (MNIST: ~1-2 s cold, ~0.3 s warm, including split and statistics).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import torch

from cnnlab.config import DataConfig, Preprocess, default_cache_dir, default_data_root
from cnnlab.registry import Registry


class DatasetUnavailable(RuntimeError):
    """A dataset's files are missing and could not be fetched; the message says what to do."""


@dataclass(frozen=True)
class DataSplit:
    x: torch.Tensor  # uint8 (N, C, H, W)
    y: torch.Tensor  # int64 (N,)

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class ImageDataset:
    name: str  # registry name
    title: str  # human-readable, for the UI
    class_names: list[str]
    train: DataSplit
    val: DataSplit
    test: DataSplit
    preprocess: Preprocess  # input shape, train mean/std, background brightness
    hflip_ok: bool  # a mirrored image keeps its class (photos, shapes; not digits)
    notes: list[str]  # how the splits were made; warnings start with "warning:"
    source: str  # where the images came from

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return (int(c), int(h), int(w))


@dataclass
class RawImages:
    """A loader's result before splitting."""

    class_names: list[str]
    x: torch.Tensor  # uint8 (N, C, H, W): the official train set, or everything if no test split
    y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor | None = None  # the official test split, when the set has one
    test_y: torch.Tensor | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)


Loader = Callable[[DataConfig, Path], RawImages]  # (config, data root) -> raw images


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    description: str
    offline: bool  # available without any files or network
    default_image_size: int  # side in pixels
    loader: Loader
    hflip_ok: bool = False


DATASETS: Registry[DatasetInfo] = Registry("dataset")

OFFLINE_ALTERNATIVES = (
    "Offline alternatives: 'shapes' (generated), 'digits' (8x8, bundled with scikit-learn), "
    "or your own images ('folder': a folder or .zip of class folders)."
)


def data_root(cfg_root: str | Path | None = None) -> Path:
    """The data root: `cfg_root` when given, else `default_data_root()` (env CNNLAB_DATA)."""
    return Path(cfg_root).expanduser() if cfg_root else default_data_root()


def load_dataset(cfg: DataConfig) -> ImageDataset:
    """Load `cfg.name` as resident tensors, split and described; see the module docstring.

    Raises DatasetUnavailable when files are missing and cannot be downloaded, ValueError for a
    bad config or a set too small to split (folder errors are ValueErrors too).
    """
    info = DATASETS.get(cfg.name)
    if not (0 < cfg.val_fraction < 1 and 0 < cfg.test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be between 0 and 1 (exclusive)")
    raw = info.loader(cfg, data_root(cfg.root))
    notes = list(raw.notes)
    if (
        cfg.image_size
        and cfg.name not in ("shapes", "folder")
        and cfg.image_size != raw.x.shape[-1]
    ):
        notes.append(f"image_size {cfg.image_size} ignored: {cfg.name} keeps its native size")
    train, val, test = _make_splits(raw, cfg, notes)
    title = info.title
    if cfg.name == "shapes" and train.x.shape[-1] != info.default_image_size:
        title = f"Shapes (generated, {train.x.shape[-1]}x{train.x.shape[-1]} colour)"
    return ImageDataset(
        name=cfg.name,
        title=title,
        class_names=list(raw.class_names),
        train=train,
        val=val,
        test=test,
        preprocess=compute_preprocess(train.x),
        hflip_ok=info.hflip_ok,
        notes=notes,
        source=raw.source,
    )


def compute_preprocess(x: torch.Tensor) -> Preprocess:
    """Per-channel mean/std of uint8 images (N, C, H, W) in [0, 1] units, from 256-bin histograms."""
    counts = torch.stack(
        [torch.bincount(x[:, c].reshape(-1), minlength=256) for c in range(x.shape[1])]
    )
    counts = counts.double()  # (C, 256)
    levels = torch.arange(256, dtype=torch.float64) / 255
    total = counts.sum(1).clamp_min(1)
    mean = counts @ levels / total
    var = (counts @ levels**2 / total - mean**2).clamp_min(0)
    std = var.sqrt().clamp_min(1 / 255)  # a constant channel must not divide by zero
    return Preprocess(
        input_shape=tuple(int(s) for s in x.shape[1:]),  # type: ignore[arg-type]
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        light_background=bool(mean.mean() > 0.5),
    )


# ---------------------------------------------------------------------------------------- splits


def _make_splits(raw: RawImages, cfg: DataConfig, notes: list[str]) -> tuple[DataSplit, ...]:
    y = raw.y.numpy()
    if raw.test_x is None or raw.test_y is None:
        pool, test_idx = _pick(
            y, round(cfg.test_fraction * len(y)), cfg.seed, notes, "test", keep=2
        )
        test = DataSplit(_take(raw.x, test_idx), _take(raw.y, test_idx))
        notes.append(f"test: {len(test_idx)} images held out ({cfg.test_fraction:.0%} of {len(y)})")
    else:
        pool = np.arange(len(y))
        test = DataSplit(raw.test_x, raw.test_y)
        notes.append(f"test: the official test split ({len(test)} images)")
    rest, val_rel = _pick(
        y[pool], round(cfg.val_fraction * len(pool)), cfg.seed, notes, "validation"
    )
    train_idx, val_idx = pool[rest], pool[val_rel]
    notes.append(f"validation: {len(val_idx)} images carved from the training images")
    if 0 < cfg.limit < len(train_idx):
        _, kept = _pick(y[train_idx], cfg.limit, cfg.seed, notes, "limited training", keep=0)
        notes.append(f"training: kept {len(kept)} of {len(train_idx)} images (limit {cfg.limit})")
        train_idx = train_idx[kept]
    train = DataSplit(_take(raw.x, train_idx), _take(raw.y, train_idx))
    val = DataSplit(_take(raw.x, val_idx), _take(raw.y, val_idx))
    return train, val, test


def _take(t: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    """t[idx] as a new contiguous tensor (numpy's gather is ~4x faster than torch's here)."""
    return torch.from_numpy(t.numpy()[idx])


def _pick(
    y: np.ndarray, n_pick: int, seed: int, notes: list[str], what: str, keep: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, picked) with `n_pick` picked (at least 1, leaving at least `keep`).

    Stratified when every class can appear on both sides, else a plain shuffled split plus a
    warning in `notes`.
    """
    from sklearn.model_selection import train_test_split  # lazy: ~1 s of import time per process

    n = len(y)
    if n < keep + 1:
        raise ValueError(
            f"too few images ({n}) to make train, validation and test splits: "
            "need at least 3 (better: dozens per class)"
        )
    n_pick = min(max(1, n_pick), n - keep) if keep else min(max(1, n_pick), n)
    idx = np.arange(n)
    if n_pick == n:
        return idx[:0], np.random.default_rng(seed).permutation(n)
    counts = np.bincount(y)
    present = int((counts > 0).sum())
    smallest = int(counts[counts > 0].min())
    if smallest >= 2 and present <= n_pick <= n - present:
        try:
            rest, picked = train_test_split(idx, test_size=n_pick, random_state=seed, stratify=y)
            return rest, picked
        except ValueError:
            pass
    notes.append(
        f"warning: the {what} split is not stratified (smallest class: {smallest} image(s), "
        f"{present} classes, {n_pick} of {n} images picked); class proportions may differ"
    )
    rest, picked = train_test_split(idx, test_size=n_pick, random_state=seed, shuffle=True)
    return rest, picked


# ---------------------------------------------------------------------------------------- shapes

SHAPE_CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")

# Signed distance (negative inside) of each shape in its own units, where it spans about [-1, 1].
# Exact inside; outside near corners some are slight underestimates (only anti-aliasing uses them).
# numpy, not torch: single-threaded elementwise ops stay fast on a busy 2-core machine.


def _circle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.sqrt(u * u + v * v) - 1.0


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) - 0.8


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Equilateral, centroid at 0, circumradius 1.15: three half-planes at inradius 0.575.
    s = np.float32(0.5 * math.sqrt(3))
    edges = np.maximum(s * u - 0.5 * v, -s * u - 0.5 * v)
    return np.maximum(edges, v) - 0.575


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Five points: fold the angle into one half-tip wedge [0, pi/5], then the distance to the
    # edge from the tip A = (1.05, 0) to the inner corner B (radius 0.45, angle pi/5).
    wedge = np.float32(2 * math.pi / 5)
    a = np.arctan2(u, v)
    a -= wedge * np.floor(a / wedge)
    a = np.minimum(a, wedge - a)
    r = np.sqrt(u * u + v * v)
    ax, bx, by = 1.05, 0.45 * math.cos(wedge / 2), 0.45 * math.sin(wedge / 2)
    length = math.hypot(bx - ax, by)
    cx, cy = np.float32(by / length), np.float32((bx - ax) / length)
    return r * (cx * np.cos(a) - cy * np.sin(a)) - np.float32(ax * by / length)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    bar1 = np.maximum(au - 0.32, av - 0.95)
    bar2 = np.maximum(av - 0.32, au - 0.95)
    return np.minimum(bar1, bar2)


def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.abs(np.sqrt(u * u + v * v) - 0.775) - 0.225  # between radii 0.55 and 1.0


_SHAPE_SDFS = (_circle, _square, _triangle, _star, _cross, _ring)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N,) hue/saturation/value in [0, 1] -> (N, 3) RGB in [0, 1]."""
    k = (np.array([5.0, 3.0, 1.0], dtype=np.float32) + h[:, None] * 6) % 6
    return v[:, None] * (1 - s[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1))


def make_shapes(
    num_images: int, size: int = 32, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded coloured shapes: x uint8 (N, 3, size, size), y int64 (N,) balanced over SHAPE_CLASSES.

    Each image: one shape of random size (40-85% of the half-side), position, rotation and colour
    on a contrasting background, with pixel noise. Rendered from per-pixel shape coordinates and
    each class's signed distance (anti-aliased edges), in vectorised chunks of one class each.
    """
    rng = np.random.default_rng(seed)
    n, k = num_images, len(SHAPE_CLASSES)

    def rand(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=np.float32)

    radius = 0.4 + 0.45 * rand(n)  # in units of the half-side
    centre = (rand(n, 2) * 2 - 1) * (1 - 1.15 * radius)[:, None]  # keeps the shape inside
    angle = rand(n) * np.float32(2 * math.pi)
    dark_bg = rand(n) < 0.5
    fg_value = np.where(dark_bg, 0.75 + 0.25 * rand(n), 0.1 + 0.35 * rand(n))
    bg_value = np.where(dark_bg, 0.05 + 0.3 * rand(n), 0.7 + 0.3 * rand(n))
    fg = _hsv_to_rgb(rand(n), 0.55 + 0.45 * rand(n), fg_value)  # (N, 3)
    bg = _hsv_to_rgb(rand(n), 0.5 * rand(n), bg_value)
    bounds = [round(c * n / k) for c in range(k + 1)]  # image i < bounds[c + 1] -> class <= c
    y = np.repeat(np.arange(k), np.diff(bounds))

    t = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    x = np.empty((n, 3, size, size), dtype=np.uint8)
    chunk = max(1, 2**17 // (size * size))  # images per step: ~0.5 MB temporaries, cache-sized
    for cls, sdf in enumerate(_SHAPE_SDFS):
        for start in range(bounds[cls], bounds[cls + 1], chunk):
            sl = slice(start, min(start + chunk, bounds[cls + 1]))
            dx = t[None, None, :] - centre[sl, 0, None, None]  # (B, 1, S)
            dy = t[None, :, None] - centre[sl, 1, None, None]  # (B, S, 1)
            cos, sin = np.cos(angle[sl])[:, None, None], np.sin(angle[sl])[:, None, None]
            r = radius[sl, None, None]
            u = (cos * dx + sin * dy) / r  # (B, S, S) shape-local coordinates
            v = (cos * dy - sin * dx) / r
            pixels = sdf(u, v) * (r * (size / 2))  # signed distance in pixels
            cover = np.clip(0.5 - pixels, 0, 1)[:, None]  # 1 inside, 0 outside, 1-px edge ramp
            base = bg[sl, :, None, None]
            img = base + (fg[sl, :, None, None] - base) * cover  # (B, 3, S, S) in [0, 1]
            noise = rng.integers(-12, 13, size=img.shape, dtype=np.int8)  # about +-5%, uniform
            x[sl] = np.clip(img * 255 + 0.5 + noise, 0, 255).astype(np.uint8)
    order = rng.permutation(n)  # mix the classes (they were rendered class by class)
    return torch.from_numpy(x[order]), torch.from_numpy(y[order].astype(np.int64))


def _load_shapes(cfg: DataConfig, root: Path) -> RawImages:
    size = cfg.image_size or 32
    if not 8 <= size <= 256:
        raise ValueError(f"shapes image_size must be between 8 and 256 pixels, got {size}")
    if cfg.num_images < 3:
        raise ValueError(f"shapes needs num_images >= 3, got {cfg.num_images}")
    x, y = make_shapes(cfg.num_images, size, cfg.seed)
    return RawImages(
        list(SHAPE_CLASSES), x, y, source=f"generated ({cfg.num_images} images, seed {cfg.seed})"
    )


def _load_digits(cfg: DataConfig, root: Path) -> RawImages:
    from sklearn.datasets import load_digits

    digits = load_digits()
    levels = torch.from_numpy(digits.images)  # (N, 8, 8) float, 0..16
    x = (levels * 255 / 16).round().to(torch.uint8)[:, None]  # (N, 1, 8, 8)
    y = torch.from_numpy(digits.target).to(torch.int64)
    names = [str(d) for d in range(10)]
    return RawImages(names, x, y, source="scikit-learn load_digits (bundled, 8x8)")


# ----------------------------------------------------------------------------------- torchvision

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


def _cache_file(name: str, files: list[Path]) -> Path:
    """The cache path for `name`, keyed by the source files' paths, sizes and mtimes."""
    key = hashlib.sha256(f"cnnlab-datasets-v1|{name}".encode())
    for f in files:
        st = f.stat()
        key.update(f"|{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return default_cache_dir() / "datasets" / f"{name}-{key.hexdigest()[:16]}.pt"


def _read_cache(path: Path) -> RawImages | None:
    try:
        d = torch.load(path, weights_only=True)
        raw = RawImages(
            list(d["class_names"]), d["x"], d["y"], d["test_x"], d["test_y"], d["source"]
        )
    except Exception:  # missing, partial or from an incompatible version: rebuild it
        return None
    tensors = (raw.x, raw.y, raw.test_x, raw.test_y)
    if not all(isinstance(t, torch.Tensor) for t in tensors) or raw.x.dtype != torch.uint8:
        return None
    return raw


def _write_cache(path: Path, raw: RawImages) -> None:
    """Atomic (tmp file + os.replace) write; removes older caches of the same dataset."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(
                {
                    "class_names": raw.class_names,
                    "x": raw.x,
                    "y": raw.y,
                    "test_x": raw.test_x,
                    "test_y": raw.test_y,
                    "source": raw.source,
                },
                f,
            )
        os.replace(tmp, path)
        tmp = None
        for old in path.parent.glob(f"{path.stem.rsplit('-', 1)[0]}-*.pt"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache folder only costs speed
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _load_torchvision(name: str, root: Path) -> RawImages:
    spec = _TORCHVISION[name]
    base = _found_root(spec, root)
    read_error: Exception | None = None
    if base is not None:
        cache = _cache_file(name, [base / f for f in spec.files])
        raw = _read_cache(cache)
        if raw is not None:
            return raw
        try:
            raw = _read_torchvision(spec, base)
        except Exception as err:  # corrupt or truncated files: fetch fresh ones below
            read_error = err
        else:
            _write_cache(cache, raw)
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
    _write_cache(_cache_file(name, [base / f for f in spec.files]), raw)
    return raw


def _torchvision_loader(name: str) -> Loader:
    def load(cfg: DataConfig, root: Path) -> RawImages:
        if name == "cifar10" and _found_root(_TORCHVISION[name], root) is None:
            if (root / CIFAR10_ZIP).is_file():
                return _load_cifar10_zip(root / CIFAR10_ZIP)
        return _load_torchvision(name, root)

    return load


def _load_cifar10_zip(path: Path) -> RawImages:
    raw = _folder_raw(path, image_size=32, channels=3)
    if sorted(raw.class_names) == sorted(CIFAR10_CLASSES):  # same labels as torchvision's CIFAR10
        order = torch.tensor([CIFAR10_CLASSES.index(c) for c in raw.class_names])
        raw.y = order[raw.y]
        raw.test_y = order[raw.test_y] if raw.test_y is not None else None
        raw.class_names = list(CIFAR10_CLASSES)
    raw.notes.append("CIFAR-10 from JPEG re-encodings: pixels differ slightly from the originals")
    return raw


# ---------------------------------------------------------------------------------------- folder


def _folder_raw(path: Path, *, image_size: int, channels: int | None) -> RawImages:
    from cnnlab.folder import load_image_folder

    # A directory is its own root: links inside it may not lead to files outside it.
    root = path if path.is_dir() else None
    found = load_image_folder(
        path, image_size=image_size, channels=channels, cache_dir=default_cache_dir(), root=root
    )
    notes = []
    if found.skipped:
        examples = "; ".join(f"{name}: {why}" for name, why in found.skipped[:3])
        notes.append(f"warning: skipped {len(found.skipped)} unreadable file(s), e.g. {examples}")
    return RawImages(
        list(found.class_names),
        found.train_x,
        found.train_y,
        found.test_x,
        found.test_y,
        source=str(path),
        notes=notes,
    )


def _load_folder(cfg: DataConfig, root: Path) -> RawImages:
    if not cfg.path:
        raise ValueError("dataset 'folder' needs a path: a folder or .zip of class folders")
    return _folder_raw(Path(cfg.path).expanduser(), image_size=cfg.image_size or 64, channels=None)


# -------------------------------------------------------------------------------- status, registry


def dataset_status(name: str, root: str | Path | None = None) -> tuple[bool, str]:
    """(available here?, why): checks that files exist, never reads or downloads them."""
    info = DATASETS.get(name)
    if name not in _TORCHVISION:
        return True, info.description.split(";")[0]
    base_root = data_root(root)
    base = _found_root(_TORCHVISION[name], base_root)
    if base is not None:
        return True, f"found in {base}"
    if name == "cifar10" and (base_root / CIFAR10_ZIP).is_file():
        return True, f"found {base_root / CIFAR10_ZIP} (JPEG class folders)"
    missing = [p for p in _expected_paths(_TORCHVISION[name], base_root) if not Path(p).is_file()]
    return (
        False,
        f"not in {base_root} (missing {len(missing)} file(s), e.g. {missing[0]}); downloads on first use",
    )


# fmt: off
_REGISTRY = [  # name, title, offline, default side (px), hflip_ok, loader, description
    ("shapes", "Shapes (generated, 32x32 colour)", True, 32, True, _load_shapes,
     "generated here, no files needed; 6 coloured shapes at random size, position and rotation"),
    ("digits", "Digits (scikit-learn, 8x8 greyscale)", True, 8, False, _load_digits,
     "bundled with scikit-learn, no files needed; 1,797 handwritten digits at 8x8 pixels"),
    ("mnist", "MNIST (handwritten digits, 28x28)", False, 28, False, _torchvision_loader("mnist"),
     "70,000 handwritten digits; downloaded once (11 MB)"),
    ("fashion-mnist", "Fashion-MNIST (clothing, 28x28)", False, 28, False,
     _torchvision_loader("fashion-mnist"),
     "70,000 greyscale clothing images in 10 classes; downloaded once (30 MB)"),
    ("kmnist", "Kuzushiji-MNIST (Japanese characters, 28x28)", False, 28, False,
     _torchvision_loader("kmnist"),
     "70,000 cursive Japanese characters in 10 classes; downloaded once (20 MB)"),
    ("cifar10", "CIFAR-10 (photos, 32x32 colour)", False, 32, True, _torchvision_loader("cifar10"),
     "60,000 small photos in 10 classes; downloaded once (170 MB)"),
    ("cifar100", "CIFAR-100 (photos, 100 classes, 32x32 colour)", False, 32, True,
     _torchvision_loader("cifar100"),
     "60,000 small photos in 100 classes; downloaded once (170 MB)"),
    # SVHN: no hflip, a mirrored digit is not the same digit.
    ("svhn", "SVHN (house-number digits, 32x32 colour)", False, 32, False,
     _torchvision_loader("svhn"),
     "99,289 street-view house-number digits; downloaded once (240 MB)"),
    ("folder", "Your own images (folder or .zip)", True, 64, True, _load_folder,
     "your own images; a folder or .zip with one sub-folder per class (optionally train/, test/)"),
]
# fmt: on
for _name, _title, _offline, _size, _hflip, _loader, _description in _REGISTRY:
    DATASETS.add(_name, DatasetInfo(_name, _title, _description, _offline, _size, _loader, _hflip))
