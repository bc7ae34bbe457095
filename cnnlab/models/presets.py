"""The small CNN presets: classic (the seed notebook), LeNet-5, a small VGG, a small ResNet and
FastNet (the CPU speed recipe). Each registers itself in `MODELS` beside its builder.

All accept 1 or 3 channels, any class count and images from 8x8 up; a pooling layer is skipped
where the image is already smaller than the pooling window.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnlab.config import ModelConfig
from cnnlab.models.blocks import (
    BasicBlock,
    Shape,
    Sides,
    conv_block,
    max_scaled_head,
    pooled_block,
    scaled,
)
from cnnlab.models.core import register


@register(
    "classic",
    "Classic CNN (seed notebook)",
    "The seed notebook's network: two 3x3 conv layers (32 and 64 filters) with ReLU and 2x2 max "
    "pooling, flatten, a dense layer of 128 units with ReLU, dropout 0.5 and one output per class. "
    "It outputs logits; the softmax is applied by the loss in training and when showing probabilities.",
    scales_with_width=True,
)
def classic(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides, in_ch = Sides(input_shape), input_shape[0]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, base in enumerate((32, 64), 1):
        out_ch = scaled(base, cfg)
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


@register(
    "lenet5",
    "LeNet-5",
    "LeCun's 1998 digit network: 5x5 convs with 6 and 16 filters, tanh and 2x2 average pooling, "
    "then dense layers of 120 and 84 units and the class layer. Tiny and quick; the first conv pads "
    "by 2 so 28x28 digits keep the original 32x32 geometry.",
)
def lenet5(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides, in_ch = Sides(input_shape), input_shape[0]
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


@register(
    "vgg-small",
    "Small VGG",
    "Three VGG stages of two 3x3 conv + batch-norm + ReLU layers and 2x2 max pooling, with 32, 64 "
    "and 128 filters (times width), then global average pooling and one dense layer.",
    scales_with_width=True,
)
def vgg_small(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides, in_ch = Sides(input_shape), input_shape[0]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, base in enumerate((32, 64, 128), 1):
        out_ch = scaled(base, cfg)
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


@register(
    "resnet-small",
    "Small ResNet",
    "A CIFAR-style ResNet: a 3x3 stem, then three stages of two residual basic blocks with 16, 32 "
    "and 64 filters (times width; stages 2 and 3 halve the image), global average pooling and one "
    "dense layer. Skip connections let deeper nets train easily.",
    scales_with_width=True,
)
def resnet_small(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    widths = [scaled(base, cfg) for base in (16, 32, 64)]
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


@register(
    "fastnet",
    "FastNet (CPU speed recipe)",
    "Built for time-to-accuracy on a CPU (after airbench): four blocks of 3x3 conv, 2x2 max pooling "
    "(blocks 1-3), batch-norm and GELU with 16, 32, 64 and 128 filters (times width), then global "
    "max pooling and a scaled linear head. Pooling right after each conv keeps the costly layers "
    "on small maps: few multiply-adds per image.",
    scales_with_width=True,
)
def fastnet(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides, widths = Sides(input_shape), [scaled(base, cfg) for base in FASTNET_WIDTHS]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch = input_shape[0]
    for i, out_ch in enumerate(widths):
        last = i == len(widths) - 1
        pool = not last and sides.pool(2)  # skipped where the map is already smaller than 2x2
        layers["stem" if i == 0 else f"stage{i}"] = pooled_block(in_ch, out_ch, pool=pool)
        in_ch = out_ch
    layers["head"] = max_scaled_head(in_ch, num_classes, FASTNET_LOGIT_SCALE)
    return nn.Sequential(layers)
