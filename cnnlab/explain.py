"""Looking inside a CNN: feature maps, first-layer filters, Grad-CAM heat maps and overlays.

Works on any module that takes float (B, C, H, W) in [0, 1] and returns logits (B, K); conv layers
are found by type (`nn.Conv2d`) and named by their qualified module names.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import PIL.Image
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from cnnlab.models import device_of, one_view

# Modules that may sit between a conv and its activation without changing the shape.
_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm, nn.Identity)
_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Softplus,
)


def _as_input(model: nn.Module, x: Any) -> torch.Tensor:
    """uint8 (C, H, W) -> float (1, C, H, W) in [0, 1] on the model's device."""
    x = torch.as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"expected one image of shape (C, H, W), got {tuple(x.shape)}")
    return x.unsqueeze(0).to(device_of(model)).float().div_(255)


def _activation_after(model: nn.Module, conv_name: str) -> nn.Module | None:
    """The activation module following conv `conv_name` (after optional norms) in its parent
    nn.Sequential, or None. Skipped when the module object is used more than once in the model,
    because its hook would fire for every use."""
    parent_name, _, child = conv_name.rpartition(".")
    parent = model.get_submodule(parent_name)
    if not isinstance(parent, nn.Sequential):
        return None
    siblings = list(parent._modules.items())
    position = [key for key, _ in siblings].index(child)
    for _, module in siblings[position + 1 :]:
        if isinstance(module, _ACTIVATIONS):
            uses = sum(m is module for _, m in model.named_modules(remove_duplicate=False))
            return module if uses == 1 else None
        if not isinstance(module, _NORMS):
            return None
    return None


def map_module(model: nn.Module, conv_name: str) -> nn.Module:
    """The module whose output `feature_maps` reads for conv `conv_name`: its activation when
    one follows it (through optional norms) in the same nn.Sequential, else the conv itself."""
    return _activation_after(model, conv_name) or model.get_submodule(conv_name)


_F = TypeVar("_F", bound=Callable[..., Any])
# The app shares one cached model between browser sessions; hooks and train/eval toggles on it
# must not interleave, so every function that attaches hooks holds this (re-entrant) lock.
_MODEL_LOCK = threading.RLock()


def _one_at_a_time(func: _F) -> _F:
    @functools.wraps(func)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _MODEL_LOCK:
            return func(*args, **kwargs)

    return locked  # type: ignore[return-value]


@_one_at_a_time
def feature_maps(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """For each conv layer in forward order: (conv name, float cpu (C', H', W') activation).

    The activation is read after the conv's activation function when that follows it (through
    optional batch-norm) in the same nn.Sequential, else the conv output. One forward pass with
    forward hooks that are always removed; the model's train/eval mode is restored.
    """
    captured: dict[str, torch.Tensor] = {}  # insertion order = call order

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            if name not in captured:  # a conv called twice keeps its first use
                # clone: a later in-place op (ReLU(inplace), `out += identity`) must not change it
                captured[name] = output[0].detach().to("cpu", copy=True)

        return hook

    handles = []
    was_training = model.training
    try:
        for name, module in model.named_modules():
            if isinstance(module, nn.Conv2d):
                target = _activation_after(model, name) or module
                handles.append(target.register_forward_hook(hook_for(name)))
        model.eval()
        with torch.inference_mode(), one_view(model):
            model(_as_input(model, x))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return list(captured.items())


def first_layer_filters(model: nn.Module) -> torch.Tensor:
    """Weights of the first conv layer, detached float cpu (F, C, kH, kW)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.detach().to("cpu", copy=True)
    raise ValueError("the model has no nn.Conv2d layer")


def default_cam_layer(maps: Sequence[tuple[str, torch.Tensor]]) -> str:
    """The Grad-CAM layer to start from, given `feature_maps`: the last conv whose maps are
    larger than 1x1 (a 1x1 map gives one flat colour: small inputs such as 8x8 digits shrink
    to that in deep layers), else the last conv."""
    if not maps:
        raise ValueError("the model has no nn.Conv2d layer")
    spatial = [name for name, act in maps if act.shape[-1] * act.shape[-2] > 1]
    return spatial[-1] if spatial else maps[-1][0]


def _last_conv_called(model: nn.Module, x: torch.Tensor) -> str:
    """Name of the last conv layer run by a forward pass of `x` (true order, whatever the layout)."""
    names = [name for name, _ in feature_maps(model, x)]
    if not names:
        raise ValueError("the model has no nn.Conv2d layer")
    return names[-1]


@_one_at_a_time
def grad_cam(
    model: nn.Module, x: torch.Tensor, target: int, layer: str | None = None
) -> np.ndarray:
    """Grad-CAM heat map float32 (H, W) in [0, 1] for class `target` on uint8 image x (C, H, W).

    `layer` is a qualified module name (default: the last conv layer). The map is upsampled
    bilinearly to the input size, ReLU'd and divided by its maximum (all zeros stays zeros).
    Gradients are taken with autograd.grad, so parameters' `.grad` are left untouched.
    """
    image = torch.as_tensor(x)
    if image.ndim != 3:
        raise ValueError(f"expected one image of shape (C, H, W), got {tuple(image.shape)}")
    return grad_cam_batch(model, image[None], [int(target)], layer)[0]


@_one_at_a_time
def grad_cam_batch(
    model: nn.Module, x: torch.Tensor, targets: Sequence[int], layer: str | None = None
) -> np.ndarray:
    """`grad_cam` of N images at once: float32 (N, H, W), map i for class targets[i] on uint8
    image x[i] (x: (N, C, H, W)), each divided by its own maximum. One forward and one backward
    pass for the batch (the model is in eval mode, so images do not affect each other)."""
    images = torch.as_tensor(x)
    if images.ndim != 4 or len(images) != len(targets):
        raise ValueError(
            f"expected images (N, C, H, W) and N targets, got {tuple(images.shape)} and "
            f"{len(targets)} targets"
        )
    if not len(images):
        return np.zeros((0, *images.shape[2:]), dtype=np.float32)
    name = layer if layer is not None else _last_conv_called(model, images[0])
    module = model.get_submodule(name)
    was_training = model.training
    model.eval()
    try:
        # Gradients are needed even when the caller is under no_grad / inference_mode.
        with torch.inference_mode(False), torch.enable_grad(), one_view(model):
            inputs = images.to(device_of(model)).float().div_(255)  # (N, C, H, W)
            target = torch.as_tensor(list(targets), dtype=torch.long, device=inputs.device)
            attribution = LayerGradCam(model, module).attribute(inputs, target=target)
        # (N, 1, h, w) -> (N, 1, H, W)
        heat = LayerAttribution.interpolate(
            attribution.detach(), tuple(inputs.shape[2:]), interpolate_mode="bilinear"
        )
    finally:
        model.train(was_training)
    heat = torch.nan_to_num(heat[:, 0].float(), nan=0.0, posinf=0.0, neginf=0.0).clamp_(min=0)
    peak = heat.amax(dim=(1, 2), keepdim=True)  # (N, 1, 1)
    heat = torch.where(peak > 0, heat / peak.clamp(min=torch.finfo(heat.dtype).tiny), heat)
    return heat.cpu().numpy().astype(np.float32)


def jet(values: np.ndarray) -> np.ndarray:
    """Jet-like colour map: float (...,) in [0, 1] -> uint8 (..., 3) RGB (blue -> red)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]  # (..., 1)
    centers = np.array([0.75, 0.5, 0.25], dtype=np.float32)  # where R, G, B peak
    rgb = np.clip(1.5 - np.abs(4.0 * (v - centers)), 0.0, 1.0)  # (..., 3)
    return (rgb * 255 + 0.5).astype(np.uint8)


def overlay(img: torch.Tensor, heat: np.ndarray, alpha: float = 0.5) -> PIL.Image.Image:
    """RGB image: uint8 (C, H, W) image blended with the jet-coloured heat map (H, W) in [0, 1].

    alpha is the weight of the heat colours (0 = image only, 1 = heat only).
    """
    x = torch.as_tensor(img).cpu().numpy()  # (C, H, W)
    rgb = np.repeat(x, 3, axis=0) if x.shape[0] == 1 else x[:3]  # (3, H, W)
    base = rgb.transpose(1, 2, 0).astype(np.float32)  # (H, W, 3)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != base.shape[:2]:
        resized = PIL.Image.fromarray(heat).resize(
            (base.shape[1], base.shape[0]), PIL.Image.Resampling.BILINEAR
        )
        heat = np.asarray(resized, dtype=np.float32)
    colors = jet(heat).astype(np.float32)  # (H, W, 3)
    mixed = (1.0 - alpha) * base + alpha * colors
    return PIL.Image.fromarray(np.clip(mixed + 0.5, 0, 255).astype(np.uint8))
