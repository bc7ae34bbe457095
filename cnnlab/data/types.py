"""What every data source shares: the dataset types, the registry, and `register_dataset`.

A dataset is one file under `cnnlab/data/` that defines its loader and calls `register_dataset`
once with everything about it (title, description, offline, default size, flip allowed, download
size, default augmentation, training recipe). The Data page, the CLI, `recipes.default_run_config`
and `augment.default_augment` all read these facts from `DATASETS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cnnlab.config import AugmentConfig, DataConfig, Preprocess, RunConfig, default_data_root
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
    title: str = ""  # replaces the registered title when this load differs (another size)
    # labels of the train split after splitting -> the labels to train on (shapes' label noise);
    # None = keep. Validation and test labels are never changed.
    relabel_train: Callable[[torch.Tensor], torch.Tensor] | None = None


Loader = Callable[[DataConfig, Path], RawImages]  # (config, data root) -> raw images
StatusCheck = Callable[[Path], tuple[bool, str]]  # data root -> (files here?, where or why not)


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # registry name, also DataConfig.name
    title: str  # human-readable, for the UI
    description: str  # one sentence: what the images are and where they come from
    offline: bool  # available without any files or network
    default_image_size: int  # side in pixels
    hflip_ok: bool  # a mirrored image keeps its class (photos, shapes; not digits)
    download_bytes: int  # size of the one-time download; 0 = nothing to download
    augment: AugmentConfig  # the augmentation the Data page's preview starts from
    recipe: RunConfig  # training defaults (model, augmentation, optimiser); its `data` is unused
    loader: Loader
    status: StatusCheck | None = None  # None = always available
    resizable: bool = False  # honours DataConfig.image_size (else keeps its native size)
    preprocess_style: str = "photo"  # "digit": light strokes on black, centred (MNIST-like)
    long_recipe: RunConfig | None = None  # more accuracy for more time (`--recipe long`)


DATASETS: Registry[DatasetInfo] = Registry("dataset")

OFFLINE_ALTERNATIVES = (
    "Offline alternatives: 'shapes' (generated), 'digits' (8x8, bundled with scikit-learn), "
    "or your own images ('folder': a folder or .zip of class folders)."
)


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add `info` to DATASETS under `info.name` (a name registers once)."""
    return DATASETS.add(info.name, info)


def data_root(cfg_root: str | Path | None = None) -> Path:
    """The data root: `cfg_root` when given, else `default_data_root()` (env CNNLAB_DATA)."""
    return Path(cfg_root).expanduser() if cfg_root else default_data_root()


def download_text(num_bytes: int) -> str:
    """'11 MB' for a download size in bytes (decimal megabytes, as the download pages say)."""
    return f"{num_bytes / 1e6:,.0f} MB"
