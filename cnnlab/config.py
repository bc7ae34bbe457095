"""Configuration dataclasses shared by every part of cnnlab.

Each run saves its `RunConfig` as JSON (`to_dict`) and can be rebuilt from it (`run_config_from_dict`),
so any run can be re-created and re-run. Every field has a default and a comment with its unit.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_data_root() -> Path:
    """Folder where datasets are read from and downloaded to (env `CNNLAB_DATA` overrides)."""
    env = os.environ.get("CNNLAB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnlab" / "data"


def default_runs_dir() -> Path:
    """Folder holding one sub-folder per training run (env `CNNLAB_RUNS` overrides)."""
    env = os.environ.get("CNNLAB_RUNS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnlab" / "runs"


def default_cache_dir() -> Path:
    """Folder for decoded-image caches of user folders/zips (env `CNNLAB_CACHE` overrides)."""
    env = os.environ.get("CNNLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnlab" / "cache"


@dataclass(frozen=True)
class Range:
    """Allowed values of a number field (checked by `cnnlab.schema` wherever a config is read)."""

    lo: float | None = None  # lowest allowed value (None = no bound)
    hi: float | None = None  # highest allowed value (None = no bound)
    lo_open: bool = False  # True: `lo` itself is not allowed (> instead of >=)
    hi_open: bool = False  # True: `hi` itself is not allowed (< instead of <=)


def ranged(default: Any, lo: float | None = None, hi: float | None = None, **kw: bool) -> Any:
    """A number field with an allowed range: `ranged(2e-3, 0, lo_open=True)` means > 0."""
    return field(default=default, metadata={"range": Range(lo, hi, **kw)})


def named(default: str, registry: str = "", choices: tuple[str, ...] = ()) -> Any:
    """A name field: one of a registry's names (kind "dataset", "model", "optimizer", ...; checked
    where a run is started) or one of fixed `choices` (checked wherever a config is read)."""
    meta = {"registry": registry} if registry else {"choices": choices}
    return field(default=default, metadata=meta)


PRESET = -1.0  # a ShapesConfig knob at this value takes the value of its `difficulty` level


@dataclass(frozen=True)
class ShapesConfig:
    """How hard the generated `shapes` set is (`cnnlab.data.shapes`; resolved by `shapes_knobs`).

    `difficulty` picks a preset level; each knob left at -1 takes that level's value, any other
    value overrides it (so `difficulty=1, noise=0.3` is level 1 with more noise).
    """

    difficulty: int = ranged(2, 0, 3)  # preset level 0 (clean) .. 3 (hard): shapes.LEVELS
    noise: float = PRESET  # std of Gaussian pixel noise, in [0, 1] intensity units
    clutter: float = PRESET  # background texture and stray strokes, strength 0..1
    scale_min: float = PRESET  # smallest shape radius, share of the half-side (0.15..1)
    scale_max: float = PRESET  # largest shape radius, share of the half-side (0.15..1)
    rotation: float = PRESET  # max absolute rotation, degrees (0 = upright, 180 = any)
    occlusion: float = PRESET  # share of images with a patch hiding part of the shape, 0..1
    label_noise: float = PRESET  # share of train labels set to a wrong class (val/test clean)


@dataclass(frozen=True)
class Relabel:
    """One training image given another class by a label patch."""

    index: int = ranged(0, 0)  # position in the unpatched train split
    old: int = ranged(0, 0)  # its label there (checked when applied: the patch fits the split)
    new: int = ranged(0, 0)  # the class it gets instead


@dataclass(frozen=True)
class LabelPatch:
    """A version of a dataset's training labels (`cnnlab.data.patch`): relabel or drop training
    images, applied when the dataset loads; validation, test and the files stay untouched.
    Saved inside each run's config, so a run says which version it trained on. Empty = original."""

    name: str = ""  # the version's label, e.g. "v2: 12 relabelled, 3 dropped"
    base_run: str = ""  # run whose suspects it fixes ("" = made by hand)
    train_size: int = ranged(0, 0)  # images in the unpatched train split it was made for
    relabel: tuple[Relabel, ...] = ()  # images given another class
    drop: tuple[int, ...] = ()  # positions in the unpatched train split left out

    @property
    def empty(self) -> bool:
        return not (self.relabel or self.drop)


@dataclass(frozen=True)
class DataConfig:
    name: str = named("shapes", "dataset")  # registry: shapes, digits, mnist, cifar10, ...
    root: str = ""  # data root folder; "" = default_data_root()
    path: str = ""  # for name="folder": a directory or a .zip of class folders
    image_size: int = ranged(0, 0, 1024)  # side, pixels, for folder/shapes; 0 = the set's default
    val_fraction: float = ranged(0.1, 0, 1, lo_open=True, hi_open=True)  # share for validation
    test_fraction: float = ranged(0.2, 0, 1, lo_open=True, hi_open=True)  # share held out for test
    limit: int = ranged(0, 0)  # keep at most this many train images (0 = all); quick runs and tests
    num_images: int = ranged(6000, 3, 1_000_000)  # size of generated sets (shapes): train+val+test
    seed: int = ranged(0, 0, 2**32 - 1)  # seed for splits and generated data
    shapes: ShapesConfig = field(default_factory=ShapesConfig)  # name="shapes" only
    patch: LabelPatch = field(default_factory=LabelPatch)  # training-label version (default: none)


@dataclass(frozen=True)
class AugmentConfig:
    crop_padding: int = ranged(0, 0, 64)  # padding, pixels, before a random crop back (0 = off)
    hflip: bool = False  # random horizontal flip (only where the dataset allows it)
    rotate_degrees: float = ranged(0.0, 0, 180)  # max absolute random rotation, degrees
    translate: float = ranged(0.0, 0, 1)  # max random shift as a fraction of the side
    color_jitter: float = ranged(0.0, 0, 1)  # brightness/contrast/saturation strength, 0..1
    erasing: float = ranged(0.0, 0, 1)  # probability of erasing one random rectangle per image


def editable(default: Any, label: str, widget: str, help: str = "", **options: Any) -> Any:
    """A dataclass field the Model page's block editor shows: `widget` is "number" (options
    `range=(min, max, step)`), "select" (`choices=(...)` or `registry=<registry kind>`, optional
    `format="{0}x{0}"` and `names={value: text}`) or "checkbox". Fields without it are not edited."""
    ui = {"label": label, "widget": widget, "help": help, **options}
    return field(default=default, metadata={"ui": ui})


@dataclass(frozen=True)
class ConvBlock:
    """One conv block of a custom network: conv -> [batch-norm] -> activation -> [pool] -> [dropout].

    A new field needs: a default with `editable(...)` here (the editor builds its widget from it)
    and its use in `cnnlab.models.custom` (the builder; checks in `_check_block`).
    """

    filters: int = editable(32, "Filters", "number", "output channels", range=(1, 1024, 1))
    kernel: int = editable(  # kernel side, pixels
        3, "Kernel", "select", "kernel side, pixels", choices=(1, 3, 5, 7), format="{0}×{0}"
    )
    stride: int = editable(1, "Stride", "select", "conv stride, pixels", choices=(1, 2, 3))
    padding: int = editable(  # pixels; -1 = "same" (kernel // 2)
        -1,
        "Padding",
        "select",
        "pixels added on each side; 'same' keeps the size at stride 1",
        choices=(-1, 0, 1, 2, 3),
        format="{0} px",
        names={-1: "same"},
    )
    activation: str = editable(  # relu, leaky_relu, gelu, tanh, sigmoid, elu, silu
        "relu", "Activation", "select", registry="activation"
    )
    batch_norm: bool = editable(True, "Batch-norm", "checkbox")  # normalise after the conv
    pool: str = editable(  # max, avg, none
        "max", "Pooling (2×2)", "select", "pooling after the activation", registry="pooling"
    )
    pool_size: int = 2  # pooling window and stride, pixels (not in the editor)
    dropout: float = editable(  # dropout probability after the block
        0.0, "Dropout", "number", "share of activations zeroed in training", range=(0.0, 0.95, 0.05)
    )


@dataclass(frozen=True)
class ModelSpec:
    """A custom network: conv blocks, then flatten and dense layers, then the class logits."""

    blocks: tuple[ConvBlock, ...] = (ConvBlock(32), ConvBlock(64))
    hidden: tuple[int, ...] = (128,)  # units of each dense hidden layer
    dropout: float = 0.25  # dropout before each dense layer
    activation: str = "relu"  # activation of the dense hidden layers
    global_pool: bool = False  # average-pool to 1x1 before the dense layers instead of flatten


@dataclass(frozen=True)
class ModelConfig:
    name: str = named("classic", "model")  # registry name, or "custom" to build `spec`
    spec: ModelSpec = field(default_factory=ModelSpec)  # used only when name == "custom"
    width: float = ranged(1.0, 0, 4.0, lo_open=True)  # channel multiplier (presets that have one)
    # -- how the network starts and which of its parts learn (cnnlab/finetune.py) --
    pretrained: bool = False  # ImageNet weights (torchvision models): torch cache, else downloaded
    init_from: str = ""  # run id whose saved weights start this network ("" = fresh weights)
    freeze_up_to: str = ""  # block name: it and every block before it stay fixed; "body" = all
    # but the head (train the head only); "" = nothing frozen (`finetune.block_names` lists them)
    flip_tta: bool = False  # predict with the mean logits of the image and its mirror (photos)
    shift_tta: bool = False  # average the image moved 1 pixel up-left and down-right in too
    pretrained_lr_scale: float = ranged(
        1.0, 0, 10, lo_open=True
    )  # learning-rate multiplier of the weights that came pre-trained (ImageNet or init_from)

    def __post_init__(self) -> None:
        if self.pretrained and self.init_from:
            raise ValueError(
                "choose one start: ImageNet weights (pretrained) or a saved run (init_from)"
            )


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = named("adamw", "optimizer")  # registry: sgd, adam, adamw
    lr: float = ranged(2e-3, 0, lo_open=True)  # peak learning rate
    momentum: float = ranged(0.9, 0, 1, hi_open=True)  # SGD momentum (beta1 for Adam/AdamW)
    nesterov: bool = True  # SGD only
    weight_decay: float = ranged(5e-4, 0)  # decoupled (AdamW) or L2 (SGD, Adam) strength
    schedule: str = named("onecycle", "schedule")  # registry: constant, step, cosine, onecycle
    step_size: int = ranged(1, 1)  # epochs between decays for "step"
    gamma: float = ranged(0.7, 0, 1, lo_open=True)  # decay factor for "step"
    epochs: int = ranged(3, 0, 10_000)  # passes over the training images (0 = initial weights)
    batch_size: int = ranged(128, 1)  # images per optimiser step
    label_smoothing: float = ranged(0.0, 0, 1, hi_open=True)  # 0..1, cross-entropy target smoothing
    early_stopping: int = ranged(0, 0)  # patience in epochs on validation loss (0 = off)
    seed: int = ranged(0, 0, 2**32 - 1)  # same seed + same config = same result on the CPU
    eval_batch_size: int = ranged(1024, 1)  # images per forward pass when evaluating
    device: str = "auto"  # auto, cpu, cuda, mps
    threads: int = ranged(0, 0, 1024)  # torch intra-op threads on the CPU (0 = all cores)
    channels_last: bool = True  # NHWC memory layout (faster convolutions on CPU)
    precision: str = named(
        "fp32", choices=("fp32", "bf16", "auto")
    )  # bf16: autocast where native; auto: bf16 on CUDA only
    batch_events_per_s: float = ranged(20.0, 0)  # max batch events/s (small logs); 0 = every batch
    checkpoint_every: int = ranged(1, 0)  # epochs between resume checkpoints (0 = none)
    time_limit_s: float = ranged(0.0, 0)  # training seconds before the run stops itself (0 = none)
    nproc: int = ranged(
        1, 1, 64
    )  # DDP processes (torchrun ranks) on this machine; batch_size is their sum
    compile: str = named("auto", choices=("auto", "on", "off"))  # torch.compile; auto: on CUDA only
    lookahead: bool = False  # average the weights as they train (airbench's; cnnlab.lookahead)


@dataclass(frozen=True)
class WatchConfig:
    """What a run records about its own insides while it trains (`cnnlab.runs.monitors`).

    None of it changes how the run trains; its cost is benchmarked (bench/RESULTS.md)."""

    snapshots: bool = True  # probe images' feature maps, first-layer filters, predictions per epoch
    probes_per_class: int = ranged(2, 0, 16)  # probe images per class, chosen once per run
    embedding_points: int = ranged(500, 0, 5000)  # validation images projected per epoch (0 = off)
    norms_every: int = ranged(
        10, 0
    )  # optimiser steps between weight/gradient norm records (0 = off)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    note: str = ""  # free text shown in the runs list


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def model_spec_from_dict(data: dict[str, Any]) -> ModelSpec:
    """Rebuild a ModelSpec from its dict form (lists of block dicts), validated (cnnlab.schema)."""
    from cnnlab.schema import build  # lazy: schema imports this module

    return build(ModelSpec, data)


def run_config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of `to_dict` for a RunConfig: types and ranges checked, missing fields defaulted,
    unknown keys ignored; `cnnlab.schema.ConfigError` (a ValueError) names each bad field."""
    from cnnlab.schema import build

    return build(RunConfig, data)


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes model input; saved with each run so inference matches training.

    `style` "digit": the MNIST procedure (strokes at full contrast on black, cropped to the ink,
    the longer side fitted into `digit_box` pixels, centred by centre of mass; `cnnlab.digitprep`).
    "photo": the aspect ratio is kept by a centre crop or padding to the input's shape (`fit`).
    "" (runs saved before these fields): inferred by `resolved_style`.
    """

    input_shape: tuple[int, int, int] = (3, 32, 32)  # (C, H, W) the model expects
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)  # per-channel mean of train images, in [0, 1] units
    std: tuple[float, ...] = (0.25, 0.25, 0.25)  # per-channel std, in [0, 1] units
    light_background: bool = False  # True when training images are dark-on-light (not MNIST-like)
    style: str = ""  # "digit" | "photo" | "" = infer from input_shape and light_background
    digit_box: int = 0  # pixels: side of the box the digit's longer side fits (0 = 20/28 of H)
    fit: str = "crop"  # photo style: "crop" (centre crop) or "pad" (pad to shape); never squash

    @property
    def resolved_style(self) -> str:
        """`style`, or for old runs: "digit" for one channel, dark background and side <= 32
        (MNIST-like sets, which were the ones auto-inverted before), else "photo"."""
        if self.style:
            return self.style
        c, h, w = self.input_shape
        return "digit" if c == 1 and not self.light_background and max(h, w) <= 32 else "photo"

    @property
    def resolved_digit_box(self) -> int:
        """`digit_box`, or 20/28 of the input height (MNIST: 20 of 28), at least 1 pixel."""
        return self.digit_box or max(1, round(self.input_shape[1] * 20 / 28))

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Preprocess:
        return Preprocess(
            input_shape=tuple(int(v) for v in data["input_shape"]),  # type: ignore[arg-type]
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            light_background=bool(data.get("light_background", False)),
            style=str(data.get("style", "")),
            digit_box=int(data.get("digit_box", 0)),
            fit=str(data.get("fit", "crop")),
        )
