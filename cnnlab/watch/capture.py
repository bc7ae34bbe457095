"""What one snapshot measures: forward passes of the probes and the embedding points, in eval mode.

Feature maps are read where Inspect reads them (`cnnlab.explain.map_module`: after each conv's
activation), averaged down to at most MAP_SIDE pixels a side and quantised to uint8 per
(probe, channel) with the range kept; the penultimate features are the input of the model's last
`nn.Linear`. Hooks are removed and the train/eval mode restored whatever happens; nothing here
touches weights, gradients, the optimiser or any random generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.explain import map_module

MAX_LAYERS = 4  # conv layers whose maps a snapshot keeps (evenly spread, first and last)
MAX_CHANNELS = 8  # channels kept per layer (its first ones) ...
MAP_SIDE = 16  # ... each averaged down to at most this many pixels a side
MAP_BYTES = 128 * 1024  # ... and fewer channels when all probes' maps would pass this per snapshot
MAX_FILTERS = 64  # first-layer kernels kept
CHUNK = 256  # images per forward pass of the embedding points


@dataclass
class ProbeCapture:
    """One snapshot of the probes."""

    maps: list[np.ndarray]  # per kept layer: uint8 (P, c, h, w), each (probe, channel) 0..255
    ranges: list[np.ndarray]  # per kept layer: float32 (P, c, 2) the (min, max) that 0, 255 are
    probs: np.ndarray  # float32 (P, K) softmax
    filters: np.ndarray  # float16 (F, C, k, k) first conv's weights (F <= MAX_FILTERS)


def conv_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def last_linear(model: nn.Module) -> nn.Linear | None:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def spread(names: Sequence[str], count: int = MAX_LAYERS) -> list[str]:
    """At most `count` of `names`, evenly spread, the first and the last included."""
    if len(names) <= count:
        return list(names)
    picks = np.linspace(0, len(names) - 1, count).round().astype(int)
    return [names[i] for i in sorted(set(picks.tolist()))]


def _to_input(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device).float().div_(255.0)  # uint8 (N, C, H, W) -> float [0, 1]


class _Hooks:
    """Forward hooks that keep what `layers` output (first use) and what the last Linear reads."""

    def __init__(self, model: nn.Module, layers: Sequence[str], features: bool) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.features: torch.Tensor | None = None
        self.handles = []
        for name in layers:
            self.handles.append(map_module(model, name).register_forward_hook(self._keep(name)))
        linear = last_linear(model) if features else None
        if linear is not None:
            self.handles.append(linear.register_forward_pre_hook(self._keep_features))

    def _keep(self, name: str):
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            if name not in self.outputs:  # clone: later in-place ops must not change it
                self.outputs[name] = output.detach().float().clone()

        return hook

    def _keep_features(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        if self.features is None:  # the first pass: the image itself, not its mirror (flip_tta)
            self.features = inputs[0].detach().float().flatten(1).clone()  # (N, D)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def map_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, int, int]]]:
    """(conv name, (C', H', W')) of every conv's maps for one uint8 image batch `x`."""
    names = conv_names(model)
    outputs, _, _ = _forward(model, x[:1], names, features=False)
    return [(name, tuple(outputs[name].shape[1:])) for name in names if name in outputs]


def _forward(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str], features: bool
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor | None]:
    hooks = _Hooks(model, layers, features)
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            logits = model(_to_input(x, _device(model))).float()
    finally:
        hooks.remove()
        model.train(was_training)
    return hooks.outputs, logits, hooks.features


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def quantise(maps: torch.Tensor, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """float (P, c, H, W) -> uint8 (P, c, h, w) averaged to `size`, each (probe, channel) scaled
    from its own (min, max) to 0..255; and those ranges float32 (P, c, 2)."""
    small = F.adaptive_avg_pool2d(maps, size) if tuple(maps.shape[-2:]) != size else maps
    low = small.amin(dim=(2, 3), keepdim=True)
    high = small.amax(dim=(2, 3), keepdim=True)
    scaled = (small - low) / (high - low).clamp(min=1e-12) * 255.0
    ranges = torch.cat([low, high], dim=3)[:, :, 0, :]  # (P, c, 2)
    return scaled.round().clamp(0, 255).to(torch.uint8).cpu().numpy(), ranges.cpu().numpy()


def capture_probes(
    model: nn.Module,
    x: torch.Tensor,
    layers: Sequence[str],
    channels: int,
    sizes: Sequence[tuple[int, int]],
) -> ProbeCapture:
    """Maps of `layers` (their first `channels`, at `sizes`), probabilities and first-layer
    filters for the probe images `x` uint8 (P, C, H, W)."""
    outputs, logits, _ = _forward(model, x, layers, features=False)
    maps, ranges = [], []
    for name, size in zip(layers, sizes, strict=True):
        q, r = quantise(outputs[name][:, :channels], tuple(size))
        maps.append(q)
        ranges.append(r)
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    filters = first.weight.detach()[:MAX_FILTERS].to("cpu", torch.float16).numpy()
    probs = torch.softmax(logits, dim=1).cpu().numpy().astype(np.float32)
    return ProbeCapture(maps, ranges, probs, filters)


def capture_features(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features float32 (N, D) and softmax probabilities float32 (N, K) of uint8
    images `x` (N, C, H, W), CHUNK images a pass. Raises ValueError without an nn.Linear."""
    if last_linear(model) is None:
        raise ValueError("the model has no nn.Linear layer, so it has no penultimate features")
    features, probs = [], []
    for start in range(0, len(x), CHUNK):
        _, logits, feats = _forward(model, x[start : start + CHUNK], (), features=True)
        features.append(feats.cpu().numpy())
        probs.append(torch.softmax(logits, dim=1).cpu().numpy())
    return np.concatenate(features), np.concatenate(probs).astype(np.float32)


def plan_maps(
    shapes: Sequence[tuple[str, tuple[int, int, int]]], probes: int
) -> tuple[list[str], list[int], int, list[tuple[int, int]]]:
    """Which layers, how many channels and what map sizes keep a snapshot within MAP_BYTES:
    (layers, their channel counts, channels kept, stored (h, w) per layer). Layers with 1x1
    maps are left out (one number is not a picture) unless nothing else is left."""
    spatial = [(n, s) for n, s in shapes if s[1] * s[2] > 1] or list(shapes)
    kept = spread([n for n, _ in spatial])
    by_name = dict(spatial)
    sizes = [(min(MAP_SIDE, by_name[n][1]), min(MAP_SIDE, by_name[n][2])) for n in kept]
    pixels = sum(h * w for h, w in sizes) * max(1, probes)  # bytes per channel kept
    fewest = min((by_name[n][0] for n in kept), default=0)
    channels = max(1, min(MAX_CHANNELS, fewest, MAP_BYTES // max(1, pixels))) if kept else 0
    return kept, [by_name[n][0] for n in kept], channels, sizes
