"""The model zoo: a name -> builder registry of CNNs, the custom-network builder and its checker.

Every model is a `Classifier`: `norm` (the dataset's mean/std as buffers) then `net` (the body a
builder returns). Bodies are plain `nn.Sequential`s of named blocks where possible, and each conv
block is itself a `Sequential` with children `conv`, [`bn`], `act`, [`pool`], [`drop`], so feature
maps and Grad-CAM can hook layers by name (`block1.conv`, `block1.act`, ...). No activation or
dropout runs in place, so hooks always see unmodified tensors.

All presets accept 1 or 3 channels, any class count and images from 8x8 up; a pooling layer is
skipped where the image is already smaller than the pooling window.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models as tvm

from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.registry import Registry

Shape = tuple[int, int, int]  # (C, H, W)
Builder = Callable[..., nn.Module]  # keyword-only: (*, input_shape, num_classes, cfg) -> body

MAX_FLAT_FEATURES = 50_000_000  # custom nets: limit on flattened conv features
MAX_PARAMS = 200_000_000  # custom nets: limit on total parameters
SMALL_SIDE = 64  # torchvision nets get a small-image stem when the input side is <= this

ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")
for _name, _act in [
    ("relu", nn.ReLU),
    ("leaky_relu", nn.LeakyReLU),
    ("gelu", nn.GELU),
    ("tanh", nn.Tanh),
    ("sigmoid", nn.Sigmoid),
    ("elu", nn.ELU),
    ("silu", nn.SiLU),
]:
    ACTIVATIONS.add(_name, _act)

POOLS: Registry[Callable[[int], nn.Module] | None] = Registry("pooling")
POOLS.add("max", nn.MaxPool2d)
POOLS.add("avg", nn.AvgPool2d)
POOLS.add("none", None)


class InvalidSpecError(ValueError):
    """A custom network that cannot be built; `.layer` is the 0-based block index, -1 = classifier."""

    def __init__(self, layer: int, message: str) -> None:
        super().__init__(message)
        self.layer = layer


class Normalize(nn.Module):
    """(x - mean) / std per channel; mean/std are buffers shaped (1, C, 1, 1)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], channels: int) -> None:
        super().__init__()
        if len(mean) not in (1, channels) or len(std) not in (1, channels):
            raise ValueError(f"preprocess mean/std need 1 or {channels} values, got {mean}, {std}")
        if min(std) <= 0:
            raise ValueError(f"preprocess std must be positive, got {std}")
        shape = (1, -1, 1, 1)
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).expand(channels).reshape(shape).clone()
        )
        self.register_buffer(
            "std", torch.tensor(std, dtype=torch.float32).expand(channels).reshape(shape).clone()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """`norm` then `net`: float (B, C, H, W) in [0, 1] -> logits (B, K); softmax is left to the caller."""

    def __init__(
        self,
        net: nn.Module,
        preprocess: Preprocess,
        *,
        model_name: str,
        num_classes: int,
        pretrained_note: str,
    ) -> None:
        super().__init__()
        self.norm = Normalize(preprocess.mean, preprocess.std, preprocess.input_shape[0])
        self.net = net
        self.model_name = model_name
        self.input_shape: Shape = tuple(preprocess.input_shape)  # type: ignore[assignment]
        self.num_classes = num_classes
        self.pretrained_note = pretrained_note  # e.g. "trained from scratch"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))


class Scale(nn.Module):
    """Multiply by a fixed factor (fastnet's logit scale)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs plus a shortcut (1x1 conv when the shape changes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str  # shown in selectboxes
    description: str  # one paragraph for the UI and `cnnlab models`
    builder: Builder  # (*, input_shape, num_classes, cfg) -> body without normalisation
    scales_with_width: bool = False  # cfg.width multiplies its channel counts
    imagenet_weights: bool = False  # cfg.pretrained can load cached ImageNet weights


MODELS: Registry[ModelInfo] = Registry("model")


def _register(
    name: str, title: str, description: str, **flags: bool
) -> Callable[[Builder], Builder]:
    def wrap(builder: Builder) -> Builder:
        MODELS.add(name, ModelInfo(name, title, description, builder, **flags))
        return builder

    return wrap


# ---- small helpers: output sides and conv blocks --------------------------------------------


def _conv_side(side: int, kernel: int, stride: int, padding: int) -> int:
    return (side + 2 * padding - kernel) // stride + 1


def _width(base: int, cfg: ModelConfig) -> int:
    return max(1, round(base * cfg.width))


def conv_block(
    in_ch: int,
    out_ch: int,
    kernel: int,
    *,
    stride: int = 1,
    padding: int = -1,
    batch_norm: bool = False,
    activation: str = "relu",
    pool: str = "none",
    pool_size: int = 2,
    dropout: float = 0.0,
) -> nn.Sequential:
    """conv -> [bn] -> act -> [pool] -> [dropout] as a Sequential with named children."""
    pad = kernel // 2 if padding == -1 else padding
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv"] = nn.Conv2d(in_ch, out_ch, kernel, stride, pad, bias=not batch_norm)
    if batch_norm:
        layers["bn"] = nn.BatchNorm2d(out_ch)
    layers["act"] = ACTIVATIONS.get(activation)()
    pool_layer = POOLS.get(pool)
    if pool_layer is not None:
        layers["pool"] = pool_layer(pool_size)
    if dropout > 0:
        layers["drop"] = nn.Dropout(dropout)
    return nn.Sequential(layers)


class _Sides:
    """Tracks (H, W) through a preset so pooling is skipped where the image is already tiny."""

    def __init__(self, input_shape: Shape) -> None:
        self.h, self.w = input_shape[1], input_shape[2]

    def conv(self, kernel: int, stride: int = 1, padding: int = -1) -> int:
        """Apply a conv; returns the padding used ('same' when a 'valid' conv would not fit)."""
        if padding >= 0 and min(self.h, self.w) + 2 * padding < kernel:
            padding = -1
        pad = kernel // 2 if padding == -1 else padding
        self.h, self.w = (
            _conv_side(self.h, kernel, stride, pad),
            _conv_side(self.w, kernel, stride, pad),
        )
        return pad

    def pool(self, size: int = 2) -> bool:
        """Apply a pool when it fits; returns whether it does."""
        if min(self.h, self.w) < size:
            return False
        self.h, self.w = self.h // size, self.w // size
        return True


# ---- presets --------------------------------------------------------------------------------


@_register(
    "classic",
    "Classic CNN (seed notebook)",
    "The seed notebook's network: two 3x3 conv layers (32 and 64 filters) with ReLU and 2x2 max "
    "pooling, flatten, a dense layer of 128 units with ReLU, dropout 0.5 and one output per class. "
    "It outputs logits; the softmax is applied by the loss in training and when showing probabilities.",
    scales_with_width=True,
)
def classic(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides, in_ch = _Sides(input_shape), input_shape[0]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, base in enumerate((32, 64), 1):
        out_ch = _width(base, cfg)
        pad = sides.conv(3, padding=0)  # "valid" like the notebook's Keras Conv2D
        pool = "max" if sides.pool(2) else "none"
        layers[f"block{i}"] = conv_block(in_ch, out_ch, 3, padding=pad, pool=pool)
        in_ch = out_ch
    layers["head"] = nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(in_ch * sides.h * sides.w, 128),
            act=nn.ReLU(),
            drop=nn.Dropout(0.5),
            fc2=nn.Linear(128, num_classes),
        )
    )
    return nn.Sequential(layers)


@_register(
    "lenet5",
    "LeNet-5",
    "LeCun's 1998 digit network: 5x5 convs with 6 and 16 filters, tanh and 2x2 average pooling, "
    "then dense layers of 120 and 84 units and the class layer. Tiny and quick; the first conv pads "
    "by 2 so 28x28 digits keep the original 32x32 geometry.",
)
def lenet5(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides, in_ch = _Sides(input_shape), input_shape[0]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (out_ch, padding) in enumerate(((6, 2), (16, 0)), 1):
        pad = sides.conv(5, padding=padding)
        pool = "avg" if sides.pool(2) else "none"
        layers[f"block{i}"] = conv_block(
            in_ch, out_ch, 5, padding=pad, activation="tanh", pool=pool
        )
        in_ch = out_ch
    layers["head"] = nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(in_ch * sides.h * sides.w, 120),
            act1=nn.Tanh(),
            fc2=nn.Linear(120, 84),
            act2=nn.Tanh(),
            fc3=nn.Linear(84, num_classes),
        )
    )
    return nn.Sequential(layers)


@_register(
    "vgg-small",
    "Small VGG",
    "Three VGG stages of two 3x3 conv + batch-norm + ReLU layers and 2x2 max pooling, with 32, 64 "
    "and 128 filters (times width), then global average pooling and one dense layer.",
    scales_with_width=True,
)
def vgg_small(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides, in_ch = _Sides(input_shape), input_shape[0]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, base in enumerate((32, 64, 128), 1):
        out_ch = _width(base, cfg)
        pool = "max" if sides.pool(2) else "none"
        layers[f"stage{i}"] = nn.Sequential(
            conv_block(in_ch, out_ch, 3, batch_norm=True),
            conv_block(out_ch, out_ch, 3, batch_norm=True, pool=pool),
        )
        in_ch = out_ch
    layers["head"] = nn.Sequential(
        OrderedDict(
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            drop=nn.Dropout(0.2),
            fc=nn.Linear(in_ch, num_classes),
        )
    )
    return nn.Sequential(layers)


@_register(
    "resnet-small",
    "Small ResNet",
    "A CIFAR-style ResNet: a 3x3 stem, then three stages of two residual basic blocks with 16, 32 "
    "and 64 filters (times width; stages 2 and 3 halve the image), global average pooling and one "
    "dense layer. Skip connections let deeper nets train easily.",
    scales_with_width=True,
)
def resnet_small(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    widths = [_width(base, cfg) for base in (16, 32, 64)]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["stem"] = conv_block(input_shape[0], widths[0], 3, batch_norm=True)
    in_ch = widths[0]
    for i, out_ch in enumerate(widths, 1):
        stride = 1 if i == 1 else 2  # a strided 3x3 conv with padding 1 never shrinks below 1x1
        layers[f"stage{i}"] = nn.Sequential(
            BasicBlock(in_ch, out_ch, stride), BasicBlock(out_ch, out_ch)
        )
        in_ch = out_ch
    layers["head"] = nn.Sequential(
        OrderedDict(
            pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(in_ch, num_classes)
        )
    )
    return nn.Sequential(layers)


FASTNET_WIDTHS = (16, 32, 64, 128)  # stem, stage1..3 output channels at width 1
FASTNET_LOGIT_SCALE = 1 / 9  # airbench's fixed logit scale


def pooled_block(in_ch: int, out_ch: int, *, pool: bool, activation: str = "gelu") -> nn.Sequential:
    """conv 3x3 (no bias) -> [2x2 max pool] -> bn -> act, children named like `conv_block`'s.

    Pooling straight after the conv (as airbench does) runs batch-norm, the activation and their
    backward passes on a quarter of the pixels: ~30% faster than conv-bn-act-pool on a CPU.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv"] = nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False)  # bn has the bias
    if pool:
        layers["pool"] = nn.MaxPool2d(2)
    layers["bn"] = nn.BatchNorm2d(out_ch)
    layers["act"] = ACTIVATIONS.get(activation)()
    return nn.Sequential(layers)


@_register(
    "fastnet",
    "FastNet (CPU speed recipe)",
    "Built for time-to-accuracy on a CPU (after airbench): four blocks of 3x3 conv, 2x2 max pooling "
    "(blocks 1-3), batch-norm and GELU with 16, 32, 64 and 128 filters (times width), then global "
    "max pooling and a scaled linear head. Pooling right after each conv keeps the costly layers "
    "on small maps: few multiply-adds per image.",
    scales_with_width=True,
)
def fastnet(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides, widths = _Sides(input_shape), [_width(base, cfg) for base in FASTNET_WIDTHS]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch = input_shape[0]
    for i, out_ch in enumerate(widths):
        last = i == len(widths) - 1
        pool = not last and sides.pool(2)  # skipped where the map is already smaller than 2x2
        layers["stem" if i == 0 else f"stage{i}"] = pooled_block(in_ch, out_ch, pool=pool)
        in_ch = out_ch
    layers["head"] = nn.Sequential(
        OrderedDict(
            pool=nn.AdaptiveMaxPool2d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(in_ch, num_classes, bias=False),
            scale=Scale(FASTNET_LOGIT_SCALE),
        )
    )
    return nn.Sequential(layers)


# ---- torchvision nets with (optional) cached ImageNet weights -------------------------------


def hub_checkpoint(weights: tvm.WeightsEnum) -> Path:
    """Where torch.hub caches `weights` (`<hub dir>/checkpoints/<file name of its url>`)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _adapt_conv_weight(w: torch.Tensor, channels: int, kernel: int) -> torch.Tensor:
    """(F, 3, k, k) ImageNet filters -> (F, channels, kernel, kernel)."""
    if channels != 3:  # 1 channel: the sum of the RGB filters (a grey image's response is kept)
        w = w.mean(1, keepdim=True).repeat(1, channels, 1, 1) * (3 / channels)
    if w.shape[-1] != kernel:  # area-resample the filters, keeping their response to flat regions
        scale = (w.shape[-1] / kernel) ** 2
        w = F.interpolate(w, size=(kernel, kernel), mode="bilinear", antialias=True) * scale
    return w


def _load_imagenet(
    body: nn.Module, weights: tvm.WeightsEnum, *, conv: str, head: str, cfg: ModelConfig
) -> str:
    """Load cached ImageNet weights into `body` (never downloads); returns the pretrained note."""
    if not cfg.pretrained:
        return "trained from scratch (ImageNet weights turned off)"
    path = hub_checkpoint(weights)
    if not path.is_file():
        return f"trained from scratch: ImageNet weights are not in the local torch cache ({path})"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"expected a state dict, found {type(state).__name__}")
        new: dict[str, torch.Tensor] = {}
        for key, value in body.state_dict().items():
            if key.startswith(head) or (key.endswith("num_batches_tracked") and key not in state):
                continue
            if key not in state:
                raise ValueError(f"{key} is missing")
            src = state[key]
            if key == f"{conv}.weight":
                src = _adapt_conv_weight(src, value.shape[1], value.shape[-1])
            if src.shape != value.shape:
                raise ValueError(
                    f"{key} has shape {tuple(src.shape)}, expected {tuple(value.shape)}"
                )
            new[key] = src
        body.load_state_dict(new, strict=False)
    except Exception as err:  # a corrupt or foreign file: say so, train from scratch
        return f"trained from scratch: could not use the cached ImageNet weights {path} ({err})"
    return (
        f"ImageNet weights from the local torch cache ({path.name}); first conv adapted to the "
        "input, new classifier head"
    )


def _new_conv(old: nn.Conv2d, in_ch: int, kernel: int, stride: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_ch, old.out_channels, kernel, stride, kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


@_register(
    "resnet18",
    "ResNet-18 (torchvision)",
    "torchvision's ResNet-18 (11 M parameters). For images up to 64 px the stem becomes a stride-1 "
    "3x3 conv without max pooling, so small images keep their detail. Uses ImageNet weights when "
    "they are already in the local torch cache (never downloaded). Heavy on a CPU.",
    imagenet_weights=True,
)
def resnet18(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    body = tvm.resnet18(weights=None, num_classes=num_classes)
    small = max(input_shape[1:]) <= SMALL_SIDE
    if small or input_shape[0] != 3:
        body.conv1 = _new_conv(body.conv1, input_shape[0], 3 if small else 7, 1 if small else 2)
    if small:
        body.maxpool = nn.Identity()
    body.pretrained_note = _load_imagenet(
        body, tvm.ResNet18_Weights.IMAGENET1K_V1, conv="conv1", head="fc.", cfg=cfg
    )
    return body


@_register(
    "mobilenet-v3-small",
    "MobileNetV3-Small (torchvision)",
    "torchvision's MobileNetV3-Small (1.5 M parameters): depthwise-separable inverted residual "
    "blocks with squeeze-excitation. For images up to 64 px the first conv has stride 1. Uses "
    "ImageNet weights when they are already in the local torch cache (never downloaded).",
    imagenet_weights=True,
)
def mobilenet_v3_small(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    body = tvm.mobilenet_v3_small(weights=None, num_classes=num_classes)
    small = max(input_shape[1:]) <= SMALL_SIDE
    first = body.features[0][0]
    if small or input_shape[0] != 3:
        body.features[0][0] = _new_conv(first, input_shape[0], 3, 1 if small else 2)
    body.pretrained_note = _load_imagenet(
        body,
        tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1,
        conv="features.0.0",
        head="classifier.3.",
        cfg=cfg,
    )
    return body


# ---- custom networks --------------------------------------------------------------------------


def _block_label(index: int, block: ConvBlock) -> str:
    stride = f", stride {block.stride}" if block.stride != 1 else ""
    return f"block {index + 1} (conv {block.filters}, {block.kernel}x{block.kernel}{stride})"


def _check_block(index: int, block: ConvBlock) -> None:
    label = _block_label(index, block)
    problems = [
        (block.filters < 1, "needs at least 1 filter"),
        (block.kernel < 1, "the kernel must be at least 1x1"),
        (block.stride < 1, "the stride must be at least 1"),
        (block.padding < -1, "padding must be -1 ('same') or 0 and up"),
        (block.pool_size < 1, "the pooling size must be at least 1"),
        (
            block.pool not in POOLS,
            f"unknown pooling {block.pool!r}; choose one of: {', '.join(POOLS)}",
        ),
        (
            block.activation not in ACTIVATIONS,
            f"unknown activation {block.activation!r}; choose one of: {', '.join(ACTIVATIONS)}",
        ),
        (not 0 <= block.dropout < 1, f"dropout must be in [0, 1), got {block.dropout}"),
    ]
    for bad, problem in problems:
        if bad:
            raise InvalidSpecError(index, f"{label}: {problem}")


def check_spec(
    spec: ModelSpec, input_shape: tuple[int, ...], *, num_classes: int | None = None
) -> list[tuple[str, tuple[int, ...]]]:
    """(layer label, output shape without batch) for each shape-changing layer of a custom net.

    Pure arithmetic (no torch). Raises `InvalidSpecError` whose `.layer` is the 0-based index of the
    offending block (-1 = the dense classifier) and whose message names it ("block 3 (conv 64, 3x3):
    ..."). With `num_classes` the output layer is included in the rows and the parameter count.
    """
    c, h, w = (int(v) for v in input_shape)
    if min(c, h, w) < 1:
        raise ValueError(f"input shape must be positive (C, H, W), got {tuple(input_shape)}")
    rows: list[tuple[str, tuple[int, ...]]] = []
    params: list[tuple[int, int]] = []  # (parameters, layer index)
    for i, block in enumerate(spec.blocks):
        _check_block(i, block)
        label = _block_label(i, block)
        pad = block.kernel // 2 if block.padding == -1 else block.padding
        oh, ow = (
            _conv_side(h, block.kernel, block.stride, pad),
            _conv_side(w, block.kernel, block.stride, pad),
        )
        if oh < 1 or ow < 1:
            raise InvalidSpecError(
                i,
                f"{label}: the image is {h}x{w} here, too small for a "
                f"{block.kernel}x{block.kernel} kernel with padding {pad}; use a "
                "smaller kernel, 'same' padding or fewer blocks",
            )
        conv_params = c * block.filters * block.kernel**2 + block.filters * (
            2 if block.batch_norm else 1
        )
        params.append((conv_params, i))
        c, h, w = block.filters, oh, ow
        rows.append((label, (c, h, w)))
        if block.pool != "none":
            p = block.pool_size
            if h < p or w < p:
                raise InvalidSpecError(
                    i,
                    f"{label}: the image is {h}x{w} here, too small for {p}x{p} "
                    f"{block.pool} pooling; remove the pooling or a block",
                )
            h, w = h // p, w // p
            rows.append((f"block {i + 1} ({block.pool} pool {p}x{p})", (c, h, w)))
    if not 0 <= spec.dropout < 1:
        raise InvalidSpecError(-1, f"classifier: dropout must be in [0, 1), got {spec.dropout}")
    if spec.activation not in ACTIVATIONS:
        raise InvalidSpecError(
            -1,
            f"classifier: unknown activation {spec.activation!r}; choose one "
            f"of: {', '.join(ACTIVATIONS)}",
        )
    features = c if spec.global_pool else c * h * w
    if features > MAX_FLAT_FEATURES:
        raise InvalidSpecError(
            -1,
            f"classifier: flattening a {c}x{h}x{w} image gives {features:,} "
            f"features (limit {MAX_FLAT_FEATURES:,}); add blocks with pooling "
            "or use global average pooling",
        )
    rows.append(("global average pool" if spec.global_pool else "flatten", (features,)))
    sizes = [*spec.hidden, *([num_classes] if num_classes is not None else [])]
    for j, units in enumerate(spec.hidden, 1):
        if units < 1:
            raise InvalidSpecError(
                -1, f"classifier: dense layer {j} has {units} units; use at least 1"
            )
    for j, units in enumerate(sizes):
        params.append((features * units + units, -1))
        features = units
        rows.append((f"dense {units}" if j < len(spec.hidden) else f"output {units}", (units,)))
    total = sum(n for n, _ in params)
    if total > MAX_PARAMS:
        worst = max(params)[1]
        where = "classifier" if worst == -1 else _block_label(worst, spec.blocks[worst])
        raise InvalidSpecError(
            worst,
            f"{where}: the network would have {total / 1e6:,.0f} M parameters "
            f"(limit {MAX_PARAMS / 1e6:,.0f} M), most of them here; add "
            "pooling, use fewer filters or smaller dense layers",
        )
    return rows


@_register(
    "custom",
    "Custom network",
    "Your own stack of conv blocks (conv, optional batch-norm, activation, optional pooling and "
    "dropout), then flatten or global average pooling, dense hidden layers and the class layer.",
)
def custom(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    spec = cfg.spec
    rows = check_spec(spec, input_shape, num_classes=num_classes)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch = input_shape[0]
    for i, b in enumerate(spec.blocks, 1):
        layers[f"block{i}"] = conv_block(
            in_ch,
            b.filters,
            b.kernel,
            stride=b.stride,
            padding=b.padding,
            batch_norm=b.batch_norm,
            activation=b.activation,
            pool=b.pool,
            pool_size=b.pool_size,
            dropout=b.dropout,
        )
        in_ch = b.filters
    head: OrderedDict[str, nn.Module] = OrderedDict()
    if spec.global_pool:
        head["pool"] = nn.AdaptiveAvgPool2d(1)
    head["flatten"] = nn.Flatten()
    features = next(
        shape[0] for label, shape in rows if label in ("flatten", "global average pool")
    )
    for j, units in enumerate(spec.hidden, 1):
        if spec.dropout > 0:
            head[f"drop{j}"] = nn.Dropout(spec.dropout)
        head[f"fc{j}"] = nn.Linear(features, units)
        head[f"act{j}"] = ACTIVATIONS.get(spec.activation)()
        features = units
    head["out"] = nn.Linear(features, num_classes)
    layers["head"] = nn.Sequential(head)
    return nn.Sequential(layers)


# ---- entry points -----------------------------------------------------------------------------


def build_model(cfg: ModelConfig, preprocess: Preprocess, num_classes: int) -> Classifier:
    """The registered model `cfg.name` for images shaped `preprocess.input_shape`, with `norm` first."""
    info = MODELS.get(cfg.name)
    input_shape: Shape = tuple(int(v) for v in preprocess.input_shape)  # type: ignore[assignment]
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if cfg.width <= 0:
        raise ValueError(f"width must be positive, got {cfg.width}")
    if cfg.name == "custom":
        check_spec(cfg.spec, input_shape, num_classes=num_classes)
    body = info.builder(input_shape=input_shape, num_classes=num_classes, cfg=cfg)
    note = getattr(body, "pretrained_note", "trained from scratch")
    for module in body.modules():  # in-place ops break forward/backward hooks (Grad-CAM)
        if hasattr(module, "inplace"):
            module.inplace = False
    return Classifier(
        body, preprocess, model_name=cfg.name, num_classes=num_classes, pretrained_note=note
    )


def conv_layer_names(model: nn.Module) -> list[str]:
    """Qualified names of the `nn.Conv2d` modules of `model`, in registration (= forward) order."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
