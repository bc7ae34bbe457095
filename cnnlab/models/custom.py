"""Custom networks: the checker (`check_spec`, pure arithmetic), the limits it enforces, the parser
of the dense-layers text, and the builder registered as `custom`.

A `ModelSpec` is conv blocks (`ConvBlock`: conv, optional batch-norm, activation, optional pooling
and dropout), then flatten or global average pooling, dense hidden layers and the class layer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

from torch import nn

from cnnlab.config import ConvBlock, ModelConfig, ModelSpec
from cnnlab.models.blocks import ACTIVATIONS, POOLS, Shape, conv_block, conv_side
from cnnlab.models.core import register

# Limits, so a crafted spec or a long text costs milliseconds to refuse, not minutes to build.
MAX_BLOCKS = 12  # conv blocks
MAX_FILTERS = 1024  # output channels of one conv block
MAX_HIDDEN_LAYERS = 8  # dense hidden layers
MAX_UNITS = 65_536  # units of one dense layer
MAX_HIDDEN_TEXT = 200  # characters of the dense-layers text ("128, 64")
MAX_FLAT_FEATURES = 50_000_000  # flattened conv features
MAX_PARAMS = 200_000_000  # total parameters


class InvalidSpecError(ValueError):
    """A custom network that cannot be built; `.layer` is the 0-based block index, -1 = classifier."""

    def __init__(self, layer: int, message: str) -> None:
        super().__init__(message)
        self.layer = layer


class SpecRow(NamedTuple):
    """One shape-changing layer of a custom net."""

    label: str  # e.g. "block 2 (conv 64, 3x3)", "flatten", "dense 128", "output 10"
    shape: tuple[int, ...]  # output shape without the batch: (C, H, W) or (features,)
    layer: int  # 0-based block index, -1 = the classifier


def parse_hidden(text: str) -> tuple[int, ...]:
    """'128, 64' -> (128, 64); '' -> () (no hidden layer). ValueError says what is wrong.

    The length is checked first, so a huge value is refused before it is split.
    """
    if len(text) > MAX_HIDDEN_TEXT:
        raise ValueError(
            f"the dense layers text is {len(text):,} characters long (limit {MAX_HIDDEN_TEXT}); "
            f"list at most {MAX_HIDDEN_LAYERS} layer sizes such as '128, 64'"
        )
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        units = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"'{text}' is not a list of whole numbers such as '128, 64'") from None
    if len(units) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"{len(units)} dense layers is too many; use at most {MAX_HIDDEN_LAYERS}")
    if any(u < 1 or u > MAX_UNITS for u in units):
        raise ValueError(f"each dense layer needs 1 to {MAX_UNITS:,} units")
    return units


def block_label(index: int, block: ConvBlock) -> str:
    stride = f", stride {block.stride}" if block.stride != 1 else ""
    return f"block {index + 1} (conv {block.filters}, {block.kernel}x{block.kernel}{stride})"


def _check_block(index: int, block: ConvBlock) -> None:
    label = block_label(index, block)
    problems = [
        (block.filters < 1, "needs at least 1 filter"),
        (block.filters > MAX_FILTERS, f"{block.filters} filters is too many (limit {MAX_FILTERS})"),
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


def _block_rows(i: int, block: ConvBlock, shape: Shape) -> list[SpecRow]:
    """Rows of block `i` (conv, then its pool) for an input (C, H, W); raises where it won't fit."""
    _check_block(i, block)
    label, (_, h, w) = block_label(i, block), shape
    pad = block.kernel // 2 if block.padding == -1 else block.padding
    h, w = (
        conv_side(h, block.kernel, block.stride, pad),
        conv_side(w, block.kernel, block.stride, pad),
    )
    if h < 1 or w < 1:
        raise InvalidSpecError(
            i,
            f"{label}: the image is {shape[1]}x{shape[2]} here, too small for a "
            f"{block.kernel}x{block.kernel} kernel with padding {pad}; use a "
            "smaller kernel, 'same' padding or fewer blocks",
        )
    rows = [SpecRow(label, (block.filters, h, w), i)]
    if block.pool != "none":
        p = block.pool_size
        if h < p or w < p:
            raise InvalidSpecError(
                i,
                f"{label}: the image is {h}x{w} here, too small for {p}x{p} "
                f"{block.pool} pooling; remove the pooling or a block",
            )
        pool_label = f"block {i + 1} ({block.pool} pool {p}x{p})"
        rows.append(SpecRow(pool_label, (block.filters, h // p, w // p), i))
    return rows


def _check_head(spec: ModelSpec, c: int, h: int, w: int) -> int:
    """The classifier's checks; returns the number of features entering the dense layers."""
    if not 0 <= spec.dropout < 1:
        raise InvalidSpecError(-1, f"classifier: dropout must be in [0, 1), got {spec.dropout}")
    if spec.activation not in ACTIVATIONS:
        raise InvalidSpecError(
            -1,
            f"classifier: unknown activation {spec.activation!r}; choose one "
            f"of: {', '.join(ACTIVATIONS)}",
        )
    if len(spec.hidden) > MAX_HIDDEN_LAYERS:
        raise InvalidSpecError(
            -1, f"classifier: {len(spec.hidden)} dense layers (limit {MAX_HIDDEN_LAYERS})"
        )
    for j, units in enumerate(spec.hidden, 1):
        if not 1 <= units <= MAX_UNITS:
            raise InvalidSpecError(
                -1, f"classifier: dense layer {j} has {units} units; use 1 to {MAX_UNITS:,}"
            )
    features = c if spec.global_pool else c * h * w
    if features > MAX_FLAT_FEATURES:
        raise InvalidSpecError(
            -1,
            f"classifier: flattening a {c}x{h}x{w} image gives {features:,} "
            f"features (limit {MAX_FLAT_FEATURES:,}); add blocks with pooling "
            "or use global average pooling",
        )
    return features


def spec_rows(
    spec: ModelSpec, input_shape: tuple[int, ...], *, num_classes: int | None = None
) -> Iterator[SpecRow]:
    """The rows of `check_spec`, with the layer index, yielded as far as the network is valid.

    Raises `InvalidSpecError` at the first layer that cannot be built (the parameter limit is
    checked after the last row).
    """
    c, h, w = (int(v) for v in input_shape)
    if min(c, h, w) < 1:
        raise ValueError(f"input shape must be positive (C, H, W), got {tuple(input_shape)}")
    params: list[tuple[int, int]] = []  # (parameters, layer index)
    for i, block in enumerate(spec.blocks):
        if i >= MAX_BLOCKS:
            raise InvalidSpecError(
                i, f"{block_label(i, block)}: {len(spec.blocks)} conv blocks (limit {MAX_BLOCKS})"
            )
        rows = _block_rows(i, block, (c, h, w))
        params.append(
            (c * block.filters * block.kernel**2 + block.filters * (1 + block.batch_norm), i)
        )
        yield from rows
        c, h, w = rows[-1].shape
    features = _check_head(spec, c, h, w)
    yield SpecRow("global average pool" if spec.global_pool else "flatten", (features,), -1)
    sizes = [*spec.hidden, *([num_classes] if num_classes is not None else [])]
    for j, units in enumerate(sizes):
        params.append((features * units + units, -1))
        features = units
        yield SpecRow(f"dense {units}" if j < len(spec.hidden) else f"output {units}", (units,), -1)
    total = sum(n for n, _ in params)
    if total > MAX_PARAMS:
        worst = max(params)[1]
        where = "classifier" if worst == -1 else block_label(worst, spec.blocks[worst])
        raise InvalidSpecError(
            worst,
            f"{where}: the network would have {total / 1e6:,.0f} M parameters "
            f"(limit {MAX_PARAMS / 1e6:,.0f} M), most of them here; add "
            "pooling, use fewer filters or smaller dense layers",
        )


def check_spec(
    spec: ModelSpec, input_shape: tuple[int, ...], *, num_classes: int | None = None
) -> list[tuple[str, tuple[int, ...]]]:
    """(layer label, output shape without batch) for each shape-changing layer of a custom net.

    Pure arithmetic (no torch). Raises `InvalidSpecError` whose `.layer` is the 0-based index of the
    offending block (-1 = the dense classifier) and whose message names it ("block 3 (conv 64, 3x3):
    ..."). With `num_classes` the output layer is included in the rows and the parameter count.
    """
    return [(row.label, row.shape) for row in spec_rows(spec, input_shape, num_classes=num_classes)]


@register(
    "custom",
    "Custom network",
    "Your own stack of conv blocks (conv, optional batch-norm, activation, optional pooling and "
    "dropout), then flatten or global average pooling, dense hidden layers and the class layer.",
)
def custom(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    spec = cfg.spec
    rows = list(spec_rows(spec, input_shape, num_classes=num_classes))  # raises if invalid
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
    features = next(row.shape[0] for row in rows if row.layer == -1)  # flatten / global pool
    for j, units in enumerate(spec.hidden, 1):
        if spec.dropout > 0:
            head[f"drop{j}"] = nn.Dropout(spec.dropout)
        head[f"fc{j}"] = nn.Linear(features, units)
        head[f"act{j}"] = ACTIVATIONS.get(spec.activation)()
        features = units
    head["out"] = nn.Linear(features, num_classes)
    layers["head"] = nn.Sequential(head)
    return nn.Sequential(layers)
