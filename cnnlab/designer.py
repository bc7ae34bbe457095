"""What the Model page needs besides the zoo: edits of a custom `ModelSpec` (each returns a new spec,
specs are frozen) and an overview of any model (layer table, totals, cost, a layer stack to draw).

No streamlit here: the page caches `describe_model` and draws the stack with `plots.layer_stack_figure`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
from torch import nn

from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.models import InvalidSpecError, build_model, check_spec
from cnnlab.summary import summarize

MAX_BLOCKS = 12  # the editor's limit on conv blocks
TRAIN_FLOPS_PER_MAC = 6  # forward: 2 FLOP per multiply-add; backward: about twice the forward


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


def parse_hidden(text: str) -> tuple[int, ...]:
    """'128, 64' -> (128, 64); '' -> () (no hidden layer). ValueError says what is wrong."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        units = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"'{text}' is not a list of whole numbers such as '128, 64'") from None
    if any(u < 1 or u > 65536 for u in units):
        raise ValueError("each dense layer needs 1 to 65,536 units")
    return units


def block_shapes(
    spec: ModelSpec, input_shape: tuple[int, ...]
) -> list[tuple[str, tuple[int, ...]]]:
    """`check_spec` rows of the blocks that come before the first invalid one (for the editor's
    block titles while the network as a whole cannot be built)."""
    for end in range(len(spec.blocks), -1, -1):
        try:
            return check_spec(replace(spec, blocks=spec.blocks[:end], hidden=()), input_shape)
        except InvalidSpecError:
            continue
    return []


def format_hidden(hidden: tuple[int, ...]) -> str:
    return ", ".join(str(u) for u in hidden)


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

    @property
    def train_flops(self) -> int:
        """Estimated FLOP to train on one image (forward + backward)."""
        return TRAIN_FLOPS_PER_MAC * self.mult_adds


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


def human(n: float) -> str:
    """1234 -> '1.2 k', 8_628_048 -> '8.6 M', 5.2e10 -> '52 G' (3 significant digits at most)."""
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            value = n / factor
            return f"{value:.3g} {unit}"
    return f"{n:.3g}"
