"""torchvision's ResNet-18 and MobileNetV3-Small, adapted to small inputs and any channel/class
count; ImageNet weights are used only when already in the local torch cache (never downloaded).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.config import ModelConfig
from cnnlab.models.blocks import Shape
from cnnlab.models.core import register

if TYPE_CHECKING:  # torchvision is imported when a net is built: it costs ~1.5 s (torch._dynamo),
    from torchvision import models as tvm  # which `cnnlab predict` of a small CNN need not pay

SMALL_SIDE = 64  # torchvision nets get a small-image stem when the input side is <= this


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


@register(
    "resnet18",
    "ResNet-18 (torchvision)",
    "torchvision's ResNet-18 (11 M parameters). For images up to 64 px the stem becomes a stride-1 "
    "3x3 conv without max pooling, so small images keep their detail. Uses ImageNet weights when "
    "they are already in the local torch cache (never downloaded). Heavy on a CPU.",
    imagenet_weights=True,
)
def resnet18(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    from torchvision import models as tvm

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


@register(
    "mobilenet-v3-small",
    "MobileNetV3-Small (torchvision)",
    "torchvision's MobileNetV3-Small (1.5 M parameters): depthwise-separable inverted residual "
    "blocks with squeeze-excitation. For images up to 64 px the first conv has stride 1. Uses "
    "ImageNet weights when they are already in the local torch cache (never downloaded).",
    imagenet_weights=True,
)
def mobilenet_v3_small(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    from torchvision import models as tvm

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
