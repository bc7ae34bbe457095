"""What the Model page needs besides the zoo: the block editor's schema (read from the `editable`
metadata of `ConvBlock`), edits of a custom `ModelSpec` (each returns a new spec, specs are frozen),
the spec a preset or a saved run's network starts the editor from (`editor_start`),
where a spec goes wrong (per block, from `InvalidSpecError.layer`), and an overview of any model
(layer table, totals, cost, a layer stack to draw).

No streamlit here: the page caches `describe_model` and draws the stack with `plots.layer_stack_figure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd
from torch import nn

from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.models import ACTIVATIONS, POOLS, InvalidSpecError, build_model, spec_rows
from cnnlab.models.blocks import scaled
from cnnlab.registry import Registry
from cnnlab.summary import summarize, training_flops

CHOICE_REGISTRIES: dict[str, Registry[Any]] = {r.kind: r for r in (ACTIVATIONS, POOLS)}


# -- the block editor's schema -------------------------------------------------------------------


@dataclass(frozen=True)
class BlockField:
    """One editable `ConvBlock` field, as the editor draws it."""

    name: str  # the ConvBlock attribute
    label: str
    widget: str  # "number", "select" or "checkbox"
    help: str = ""
    range: tuple[Any, Any, Any] | None = None  # (min, max, step) of a number
    choices: tuple[Any, ...] = ()  # options of a select
    format: str = "{0}"  # how a select shows a value ("{0}×{0}")
    names: dict[Any, str] = field(default_factory=dict)  # values shown by name ({-1: "same"})

    def show(self, value: Any) -> str:
        return self.names.get(value) or self.format.format(value)

    def options(self, value: Any) -> list[Any]:
        """The choices, plus `value` when a spec loaded from a run holds one the list lacks."""
        return list(self.choices) if value in self.choices else sorted([*self.choices, value])


def block_fields() -> list[BlockField]:
    """The editable fields of `ConvBlock` in declaration order (its `editable(...)` metadata)."""
    found = []
    for f in fields(ConvBlock):
        ui = dict(f.metadata.get("ui", {}))
        if not ui:
            continue
        registry = ui.pop("registry", None)
        if registry is not None:
            ui["choices"] = tuple(CHOICE_REGISTRIES[registry].names())
        found.append(BlockField(name=f.name, **ui))
    return found


# -- editing a custom network ------------------------------------------------------------------


def add_block(spec: ModelSpec) -> ModelSpec:
    """Append a block like the last one with twice its filters (at most 512); 32 filters if none."""
    last = spec.blocks[-1] if spec.blocks else None
    block = replace(last, filters=min(512, 2 * last.filters)) if last else ConvBlock()
    return replace(spec, blocks=(*spec.blocks, block))


def remove_block(spec: ModelSpec, index: int) -> ModelSpec:
    return replace(spec, blocks=spec.blocks[:index] + spec.blocks[index + 1 :])


def move_block(spec: ModelSpec, index: int, offset: int) -> ModelSpec:
    """Swap block `index` with its neighbour `index + offset` (no-op at either end)."""
    other = index + offset
    if not (0 <= index < len(spec.blocks) and 0 <= other < len(spec.blocks)):
        return spec
    blocks = list(spec.blocks)
    blocks[index], blocks[other] = blocks[other], blocks[index]
    return replace(spec, blocks=tuple(blocks))


@dataclass(frozen=True)
class SpecCheck:
    """Where a custom network stands, per editor box."""

    block_outputs: list[tuple[int, ...] | None]  # each block's output (C, H, W); None past an error
    error: InvalidSpecError | None  # the first problem; `.layer` = block index, -1 = classifier


def check_blocks(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> SpecCheck:
    """Each block's output shape as far as the spec is valid, and its first error (if any)."""
    outputs: list[tuple[int, ...] | None] = [None] * len(spec.blocks)
    try:
        for row in spec_rows(spec, input_shape, num_classes=num_classes):
            if row.layer >= 0:
                outputs[row.layer] = row.shape  # the pool's row comes after the conv's
    except InvalidSpecError as exc:
        return SpecCheck(outputs, exc)
    return SpecCheck(outputs, None)


def block_actions(
    index: int, count: int
) -> list[tuple[str, str, Callable[..., ModelSpec], tuple[int, ...], bool]]:
    """The buttons of block `index` of `count`: (icon, tooltip, edit, its extra args, disabled)."""
    return [
        ("arrow_upward", "Move up", move_block, (index, -1), index == 0),
        ("arrow_downward", "Move down", move_block, (index, 1), index == count - 1),
        ("delete", "Remove this block", remove_block, (index,), False),
    ]


def format_hidden(hidden: tuple[int, ...]) -> str:
    return ", ".join(str(u) for u in hidden)


# -- starting the editor from a preset or a saved run's network -----------------------------------


@dataclass(frozen=True)
class EditorStart:
    """What the custom editor can load for a network: a spec, or why there is none."""

    spec: ModelSpec | None  # None: the network is not a plain stack of conv blocks
    note: str  # how the loaded spec differs from the network, or why it cannot be edited


def _classic_spec(cfg: ModelConfig) -> ModelSpec:
    block = ConvBlock(padding=0, batch_norm=False, pool="max")  # "valid" 3x3 convs, like Keras
    blocks = tuple(replace(block, filters=scaled(f, cfg)) for f in (32, 64))
    return ModelSpec(blocks=blocks, hidden=(128,), dropout=0.5)


def _lenet_spec(cfg: ModelConfig) -> ModelSpec:
    block = ConvBlock(kernel=5, activation="tanh", batch_norm=False, pool="avg")
    blocks = (replace(block, filters=6, padding=2), replace(block, filters=16, padding=0))
    return ModelSpec(blocks=blocks, hidden=(120, 84), dropout=0.0, activation="tanh")


def _vgg_spec(cfg: ModelConfig) -> ModelSpec:
    blocks: list[ConvBlock] = []
    for f in (32, 64, 128):  # a stage = two conv blocks, the second one pools
        first = ConvBlock(scaled(f, cfg), pool="none")
        blocks += [first, replace(first, pool="max")]
    blocks[-1] = replace(blocks[-1], dropout=0.2)  # the preset's dropout before its dense layer
    return ModelSpec(blocks=tuple(blocks), hidden=(), dropout=0.0, global_pool=True)


STACK_PRESETS: dict[str, tuple[Callable[[ModelConfig], ModelSpec], str]] = {  # name -> (spec, note)
    "classic": (_classic_spec, "the dropout (0.5) sits before the dense layer instead of after it"),
    "lenet5": (_lenet_spec, "the same layers"),
    "vgg-small": (_vgg_spec, "the dropout (0.2) is on the last block's maps, before the pooling"),
}
NOT_A_STACK = {  # presets the editor cannot express, and why
    "resnet-small": "its residual blocks add a skip connection around each pair of convs",
    "fastnet": "it pools before batch-norm, uses global max pooling and scales its logits",
    "airnet": "its first layer is a fixed whitening filter fitted to the training images",
    "resnet18": "its residual blocks add a skip connection around each pair of convs",
    "mobilenet-v3-small": "it is built of depthwise-separable inverted residual blocks",
}


def editor_start(cfg: ModelConfig) -> EditorStart:
    """The conv-block spec of network `cfg` (a custom one as is; a preset that is a plain stack
    of conv blocks translated, at its width), or why the editor cannot load it."""
    if cfg.name == "custom":
        return EditorStart(cfg.spec, "the network as it was built")
    if cfg.name in STACK_PRESETS:
        build, note = STACK_PRESETS[cfg.name]
        where = " (on small images the preset skips pooling that no longer fits)"
        return EditorStart(build(cfg), f"the preset's conv blocks and dense layers; {note}{where}")
    reason = NOT_A_STACK.get(cfg.name, "it is not a plain stack of conv blocks")
    return EditorStart(None, f"the block editor builds plain stacks of conv blocks, and {reason}")


# -- describing a model --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelOverview:
    table: (
        pd.DataFrame
    )  # one row per leaf layer: layer, type, output shape, parameters, multiply-adds
    total_params: int
    trainable_params: int
    mult_adds: int  # per image, forward pass
    stack: list[tuple[str, str]]  # (label, output shape) from the input down, for the diagram
    note: str  # how the weights start ("trained from scratch", cached ImageNet weights, ...)
    train_flops: int  # FLOP to train on one image, forward + backward, measured (FlopCounterMode)


def describe_model(cfg: ModelConfig, preprocess: Preprocess, num_classes: int) -> ModelOverview:
    """Build `cfg` for `preprocess.input_shape` and `num_classes` and summarise it (torchinfo).

    Raises like `build_model` (InvalidSpecError for a custom net that cannot be built).
    """
    model = build_model(cfg, preprocess, num_classes)
    summary = summarize(model, preprocess.input_shape)
    shape = "×".join(str(v) for v in preprocess.input_shape)
    stack = [("input", shape)]
    modules = dict(model.named_modules())
    drawn = [r for r in summary.rows if r.name in modules and _diagram_label(modules[r.name])]
    for i, row in enumerate(drawn):
        label = _diagram_label(modules[row.name], last=i == len(drawn) - 1)
        name = row.name.removeprefix("net.")
        stack.append((f"{label} · {name}", "×".join(str(v) for v in row.output_shape)))
    return ModelOverview(
        table=summary.to_frame(),
        total_params=summary.total_params,
        trainable_params=summary.trainable_params,
        mult_adds=summary.total_mult_adds,
        stack=stack,
        note=model.pretrained_note,
        train_flops=training_flops(model, preprocess.input_shape),
    )


def cost_metrics(view: ModelOverview) -> list[tuple[str, str, str]]:
    """(label, value, tooltip) of the Model page's three metrics."""
    return [
        ("Parameters", compact(view.total_params), f"{view.total_params:,} weights"),
        ("Mult-adds", compact(view.mult_adds), "multiply-adds of the forward pass, per image"),
        (
            "Train FLOP",
            compact(view.train_flops),
            "per image, measured on one batch with PyTorch's FLOP counter: the forward pass, "
            "the loss and the backward pass (2 FLOP per multiply-add of convolutions and dense "
            "layers)",
        ),
    ]


def cost_caption(view: ModelOverview, num_train: int) -> str:
    """One sentence on the training cost per image and per epoch of `num_train` images."""
    return (
        f"Training costs {human(view.train_flops)}FLOP per image forward + backward (measured), "
        f"≈ {human(view.train_flops * num_train)}FLOP per epoch of {num_train:,} images. "
        f"Weights: {view.note}."
    )


def totals_caption(view: ModelOverview) -> str:
    return (
        f"Totals: {view.total_params:,} parameters ({view.trainable_params:,} trainable), "
        f"{view.mult_adds:,} multiply-adds per image."
    )


def _diagram_label(module: nn.Module, last: bool = False) -> str:
    """A short label for the layers worth drawing (convs, pooling, flatten, dense); '' for others."""
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size[0], module.stride[0]
        return f"conv {k}×{k}" + (f" stride {s}" if s != 1 else "")
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        return f"{'max' if isinstance(module, nn.MaxPool2d) else 'avg'} pool {k}×{k}"
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return f"global {'max' if isinstance(module, nn.AdaptiveMaxPool2d) else 'avg'} pool"
    if isinstance(module, nn.Flatten):
        return "flatten"
    if isinstance(module, nn.Linear):
        return "dense (output)" if last else "dense"
    return ""


UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _scaled(n: float) -> tuple[float, str]:
    """(n in its unit, the unit): 1234 -> (1.234, "k"); under 1000 -> (n, ""). A value that
    would round to 1000 of a unit takes the next one (999,999 -> (0.999999, "M"), not '1000 k')."""
    for factor, unit in UNITS:
        if abs(n) >= factor * 0.9995:
            return n / factor, unit
    return n, ""


def compact(n: float) -> str:
    """At most 5 characters, for a metric in a third of a column: 1_970_000 -> '2.0 M',
    236e6 -> '236 M', 5.2e10 -> '52 G' (one decimal below 10, none above)."""
    value, unit = _scaled(n)
    text = f"{value:.1f}" if unit and abs(value) < 9.95 else f"{value:.0f}"
    return f"{text} {unit}" if unit else text


def human(n: float) -> str:
    """1234 -> '1.23 k', 8_628_048 -> '8.63 M', 5.2e10 -> '52 G' (3 significant digits at most)."""
    value, unit = _scaled(n)
    return f"{value:.3g} {unit}" if unit else f"{value:.3g}"
