"""Configuration dataclasses shared by every part of cnnlab.

Each run saves its `RunConfig` as JSON (`to_dict`) and can be rebuilt from it (`run_config_from_dict`),
so any run can be re-created and re-run. Every field has a default and a comment with its unit.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
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


PRESET = -1.0  # a ShapesConfig knob at this value takes the value of its `difficulty` level


@dataclass(frozen=True)
class ShapesConfig:
    """How hard the generated `shapes` set is (`cnnlab.data.shapes`; resolved by `shapes_knobs`).

    `difficulty` picks a preset level; each knob left at -1 takes that level's value, any other
    value overrides it (so `difficulty=1, noise=0.3` is level 1 with more noise).
    """

    difficulty: int = 2  # preset level 0 (clean) .. 3 (hard); see cnnlab.data.shapes.LEVELS
    noise: float = PRESET  # std of Gaussian pixel noise, in [0, 1] intensity units
    clutter: float = PRESET  # background texture and stray strokes, strength 0..1
    scale_min: float = PRESET  # smallest shape radius, share of the half-side (0.15..1)
    scale_max: float = PRESET  # largest shape radius, share of the half-side (0.15..1)
    rotation: float = PRESET  # max absolute rotation, degrees (0 = upright, 180 = any)
    occlusion: float = PRESET  # share of images with a patch hiding part of the shape, 0..1
    label_noise: float = PRESET  # share of train labels set to a wrong class (val/test clean)


@dataclass(frozen=True)
class DataConfig:
    name: str = (
        "shapes"  # registry name: shapes, digits, mnist, fashion-mnist, kmnist, cifar10, ...
    )
    root: str = ""  # data root folder; "" = default_data_root()
    path: str = ""  # for name="folder": a directory or a .zip of class folders
    image_size: int = 0  # side in pixels for "folder" (and "shapes"); 0 = the dataset's own default
    val_fraction: float = (
        0.1  # share of train carved out for validation when a set has no val split
    )
    test_fraction: float = 0.2  # share held out for test when a set has no test split
    limit: int = 0  # keep at most this many train images (0 = all); quick runs and tests
    num_images: int = 6000  # size of generated sets (shapes): train+val+test
    seed: int = 0  # seed for splits and generated data
    shapes: ShapesConfig = field(default_factory=ShapesConfig)  # name="shapes" only


@dataclass(frozen=True)
class AugmentConfig:
    crop_padding: int = 0  # pixels of padding before a random crop back to size (0 = off)
    hflip: bool = False  # random horizontal flip (only where the dataset allows it)
    rotate_degrees: float = 0.0  # max absolute random rotation, degrees
    translate: float = 0.0  # max random shift as a fraction of the side
    color_jitter: float = 0.0  # brightness/contrast/saturation strength, 0..1
    erasing: float = 0.0  # probability of erasing one random rectangle per image


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
    name: str = "classic"  # registry name, or "custom" to build `spec`
    spec: ModelSpec = field(default_factory=ModelSpec)  # used only when name == "custom"
    width: float = 1.0  # channel multiplier for presets that support it
    pretrained: bool = True  # use locally cached ImageNet weights when the model has them


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adamw"  # registry: sgd, adam, adamw
    lr: float = 2e-3  # peak learning rate
    momentum: float = 0.9  # SGD momentum (beta1 for Adam/AdamW)
    nesterov: bool = True  # SGD only
    weight_decay: float = 5e-4
    schedule: str = "onecycle"  # registry: constant, step, cosine, onecycle
    step_size: int = 1  # epochs between decays for "step"
    gamma: float = 0.7  # decay factor for "step"
    epochs: int = 3
    batch_size: int = 128  # images per optimiser step
    label_smoothing: float = 0.0  # 0..1, cross-entropy target smoothing
    early_stopping: int = 0  # patience in epochs on validation loss (0 = off)
    seed: int = 0  # same seed + same config = same result on the CPU
    eval_batch_size: int = 1024  # images per forward pass when evaluating
    device: str = "auto"  # auto, cpu, cuda, mps
    threads: int = 0  # torch intra-op threads on the CPU (0 = all cores)
    channels_last: bool = True  # NHWC memory layout (faster convolutions on CPU)
    precision: str = "fp32"  # fp32, or bf16: bfloat16 autocast where the hardware has native bf16
    batch_events_per_s: float = 20.0  # max rate of per-batch progress events (keeps logs small)
    checkpoint_every: int = 1  # epochs between resume checkpoints (0 = none)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    note: str = ""  # free text shown in the runs list


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def _build(cls: type, data: Any) -> Any:
    """Rebuild dataclass `cls` from a dict, tolerating unknown keys (older/newer runs)."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        kwargs[f.name] = _convert(f.name, value, cls)
    return cls(**kwargs)


def _convert(name: str, value: Any, owner: type) -> Any:
    if owner is RunConfig:
        nested = {
            "data": DataConfig,
            "augment": AugmentConfig,
            "model": ModelConfig,
            "train": TrainConfig,
        }
        if name in nested:
            return _build(nested[name], value)
    if owner is DataConfig and name == "shapes":
        return _build(ShapesConfig, value)
    if owner is ModelConfig and name == "spec":
        return model_spec_from_dict(value)
    return value


def model_spec_from_dict(data: dict[str, Any]) -> ModelSpec:
    """Rebuild a ModelSpec from its dict form (lists of block dicts)."""
    blocks = tuple(_build(ConvBlock, b) for b in data.get("blocks", []))
    rest = {k: v for k, v in data.items() if k != "blocks"}
    if "hidden" in rest:
        rest["hidden"] = tuple(int(h) for h in rest["hidden"])
    known = {f.name for f in fields(ModelSpec)}
    return ModelSpec(blocks=blocks, **{k: v for k, v in rest.items() if k in known})


def run_config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of `to_dict` for a RunConfig."""
    return _build(RunConfig, data)


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes model input; saved with each run so inference matches training."""

    input_shape: tuple[int, int, int] = (3, 32, 32)  # (C, H, W) the model expects
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)  # per-channel mean of train images, in [0, 1] units
    std: tuple[float, ...] = (0.25, 0.25, 0.25)  # per-channel std, in [0, 1] units
    light_background: bool = False  # True when training images are dark-on-light (not MNIST-like)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Preprocess:
        return Preprocess(
            input_shape=tuple(int(v) for v in data["input_shape"]),  # type: ignore[arg-type]
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            light_background=bool(data.get("light_background", False)),
        )
