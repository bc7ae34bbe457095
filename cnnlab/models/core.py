"""The model zoo's core: the `MODELS` registry, `Classifier` (normalisation inside the model),
`build_model`, and small helpers every model user needs (`conv_layer_names`, `device_of`).

Every model is a `Classifier`: `norm` (the dataset's mean/std as buffers) then `net` (the body a
registered builder returns). Builders register themselves with `@register(...)` beside their code
(presets, torchvision nets, custom); importing `cnnlab.models` loads them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.config import ModelConfig, Preprocess
from cnnlab.registry import Registry

Shape = tuple[int, int, int]  # (C, H, W)
Builder = Callable[..., nn.Module]  # keyword-only: (*, input_shape, num_classes, cfg) -> body

MAX_WIDTH = 4.0  # limit on the channel multiplier `ModelConfig.width`


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str  # shown in selectboxes
    description: str  # one paragraph for the UI and `cnnlab models`
    builder: Builder  # (*, input_shape, num_classes, cfg) -> body without normalisation
    scales_with_width: bool = False  # cfg.width multiplies its channel counts
    imagenet_weights: bool = False  # cfg.pretrained starts it from ImageNet weights (finetune)


MODELS: Registry[ModelInfo] = Registry("model")


def register(
    name: str, title: str, description: str, **flags: bool
) -> Callable[[Builder], Builder]:
    """Decorator: add the builder below to `MODELS` under `name` (once; duplicates fail)."""

    def wrap(builder: Builder) -> Builder:
        MODELS.add(name, ModelInfo(name, title, description, builder, **flags))
        return builder

    return wrap


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


def test_time_logits(
    net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, flip: bool, shift: bool
) -> torch.Tensor:
    """Logits (B, K) of `net` on x (B, C, H, W) averaged over the test-time views: the mirror
    (`flip`), and with `shift` half the weight on x moved 1 pixel up-left and down-right.
    (The exported training script copies this function's source.)"""

    def mirrored(v: torch.Tensor) -> torch.Tensor:
        logits = net(v)
        return (logits + net(v.flip(-1))) / 2 if flip else logits

    logits = mirrored(x)
    if shift:  # (B, C, H+2, W+2) reflected, cut back to H x W one pixel off
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        moved = mirrored(padded[..., :-2, :-2]) + mirrored(padded[..., 2:, 2:])
        logits = (logits + moved / 2) / 2
    return logits


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
        flip_tta: bool = False,
        shift_tta: bool = False,
    ) -> None:
        super().__init__()
        self.norm = Normalize(preprocess.mean, preprocess.std, preprocess.input_shape[0])
        self.net = net
        self.model_name = model_name
        self.input_shape: Shape = tuple(preprocess.input_shape)  # type: ignore[assignment]
        self.num_classes = num_classes
        self.pretrained_note = pretrained_note  # e.g. "trained from scratch"
        # Test-time augmentation: in eval mode the logits are the mean of the image's and its
        # left-right mirror's (+0.5-1.2 points on CIFAR-10, twice the inference cost); with
        # `shift_tta` half the weight goes to the image moved 1 pixel up-left and down-right
        # (airbench94's, 3 times the cost again). Every prediction (Evaluate, Classify, the
        # report, ONNX) includes it; `one_view` turns it off where one pass through the layers
        # is needed (Grad-CAM, captured feature maps).
        self.flip_tta = flip_tta
        self.shift_tta = shift_tta
        self.single_view = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if self.training or self.single_view:
            return self.net(x)
        return test_time_logits(self.net, x, self.flip_tta, self.shift_tta)


@contextmanager
def one_view(model: nn.Module) -> Iterator[nn.Module]:
    """`model` with its flip test-time augmentation off (one pass per image) inside the block."""
    classifiers = [m for m in model.modules() if isinstance(m, Classifier)]
    before = [m.single_view for m in classifiers]
    for m in classifiers:
        m.single_view = True
    try:
        yield model
    finally:
        for m, was in zip(classifiers, before, strict=True):
            m.single_view = was


def build_model(cfg: ModelConfig, preprocess: Preprocess, num_classes: int) -> Classifier:
    """The registered model `cfg.name` for images shaped `preprocess.input_shape`, with `norm` first.

    A custom net is checked first (`InvalidSpecError` names the offending block).
    """
    info = MODELS.get(cfg.name)
    input_shape: Shape = tuple(int(v) for v in preprocess.input_shape)  # type: ignore[assignment]
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if not 0 < cfg.width <= MAX_WIDTH:
        raise ValueError(f"width must be above 0 and at most {MAX_WIDTH:g}, got {cfg.width}")
    body = info.builder(input_shape=input_shape, num_classes=num_classes, cfg=cfg)
    from cnnlab.finetune import describe  # how `finetune.prepare` will start it (a run does)

    note = getattr(body, "pretrained_note", "") or describe(cfg) or "trained from scratch"
    for module in body.modules():  # in-place ops break forward/backward hooks (Grad-CAM)
        if hasattr(module, "inplace"):
            module.inplace = False
    return Classifier(
        body,
        preprocess,
        model_name=cfg.name,
        num_classes=num_classes,
        pretrained_note=note,
        flip_tta=cfg.flip_tta,
        shift_tta=cfg.shift_tta,
    )


def conv_layer_names(model: nn.Module) -> list[str]:
    """Qualified names of the `nn.Conv2d` modules of `model`, in registration order (= forward
    order for sequential stacks; `explain.feature_maps` uses the real call order)."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (else first buffer); cpu for an empty module."""
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")
