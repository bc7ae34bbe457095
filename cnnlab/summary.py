"""The layer table of a model: output shape, parameters and multiply-adds per layer (via torchinfo),
and the FLOP of one training step measured with `torch.utils.flop_counter.FlopCounterMode`.

Returns data only; the figures that draw it live in `cnnlab/plots.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
import torchinfo
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchinfo import torchinfo as torchinfo_impl

from cnnlab.models import device_of


@dataclass(frozen=True)
class LayerRow:
    name: str  # qualified module name, e.g. "net.block1.conv"
    kind: str  # module class, e.g. "Conv2d"
    output_shape: tuple[int, ...]  # without the batch dimension, e.g. (32, 14, 14)
    params: int  # parameters of this layer (0 when a reused module shows up again)
    mult_adds: int  # multiply-adds for one image


@dataclass(frozen=True)
class ModelSummary:
    rows: list[LayerRow]  # leaf layers in forward order: the layer stack
    total_params: int
    trainable_params: int
    total_mult_adds: int  # for one image

    def to_frame(self) -> pd.DataFrame:
        """One row per layer: layer, type, output shape ("32×14×14"), parameters, multiply-adds."""
        return pd.DataFrame(
            {
                "layer": [r.name for r in self.rows],
                "type": [r.kind for r in self.rows],
                "output shape": ["×".join(str(v) for v in r.output_shape) for r in self.rows],
                "parameters": [r.params for r in self.rows],
                "multiply-adds": [r.mult_adds for r in self.rows],
            }
        )


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> ModelSummary:
    """Run one (1, *input_shape) batch through `model` in eval mode and tabulate its leaf layers.

    The model stays on its device, and every module's train/eval flag is restored afterwards
    (eval mode also keeps batch-norm running statistics untouched).
    """
    names = {id(module): name for name, module in model.named_modules()}
    modes = [(module, module.training) for module in model.modules()]
    try:
        stats = torchinfo.summary(
            model,
            input_size=(1, *input_shape),
            verbose=0,
            depth=100,
            device=device_of(model),
            mode="eval",
        )
    finally:
        for module, training in modes:
            module.training = training
        torchinfo_impl.clear_cached_forward_pass()  # torchinfo keeps every summary (and model) alive
    rows = [
        LayerRow(
            name=names.get(id(layer.module)) or layer.var_name,
            kind=layer.class_name,
            output_shape=tuple(int(v) for v in layer.output_size[1:]),
            params=0 if layer.is_recursive else int(layer.num_params),
            mult_adds=int(layer.macs),
        )
        for layer in stats.summary_list
        if layer.is_leaf_layer and layer.executed
    ]
    return ModelSummary(
        rows=rows,
        total_params=int(stats.total_params),
        trainable_params=int(stats.trainable_params),
        total_mult_adds=int(stats.total_mult_adds),
    )


def training_flops(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 2) -> int:
    """FLOP to train on one image: a forward pass, cross-entropy and the backward pass to every
    trainable parameter of one (batch_size, *input_shape) batch, counted by FlopCounterMode
    (matmuls and convolutions, 2 FLOP per multiply-add), divided by batch_size.

    Runs in eval mode (batch-norm statistics untouched; the counted ops are the same) and takes
    gradients with autograd.grad, so `.grad` is left as it was; the train/eval flags are restored.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    modes = [(module, module.training) for module in model.modules()]
    x = torch.rand((batch_size, *input_shape), device=device_of(model))  # (B, C, H, W) in [0, 1]
    counter = FlopCounterMode(display=False)
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad(), counter:
            logits = model(x)  # (B, K)
            target = torch.zeros(batch_size, dtype=torch.long, device=logits.device)
            loss = F.cross_entropy(logits, target)
            if params:  # a frozen network only runs forward
                torch.autograd.grad(loss, params)
    finally:
        for module, training in modes:
            module.training = training
    return int(counter.get_total_flops()) // batch_size
