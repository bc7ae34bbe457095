"""AirNet: the CIFAR-10 speed recipe's network, after airbench (Keller Jordan, 2024).

    stem    2x2 patch-whitening conv (fixed weights fitted to the training images) -> GELU
    stage1  conv 3x3 -> 2x2 max pool -> bn -> GELU -> conv 3x3 -> bn -> GELU    (16 x width)
    stage2  the same                                                             (64 x width)
    stage3  the same                                                             (64 x width)
    head    global max pool -> linear (no bias) -> x 1/9

Why each part (airbench's ablations, confirmed here on the CPU; bench/RESULTS.md):
- The whitening stem decorrelates 2x2 patches: the first trained layer starts from
  unit-variance, decorrelated inputs, so the network learns in fewer epochs. Its weights are
  the eigenvectors of the patch covariance of the training images, scaled by 1/sqrt(eigenvalue),
  and their negatives (C*4 directions x 2 signs); `fit_whitening` sets them before the first
  step. Only its bias trains.
- Convs start as identities (dirac) where the shapes allow: an implicit residual path.
- Batch-norm keeps its scale at 1 (only the shift trains) and tracks statistics with momentum
  0.4, so the running statistics follow the weights' lookahead averaging (TrainConfig.lookahead).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cnnlab.config import ModelConfig
from cnnlab.models.blocks import Shape, Sides, max_scaled_head, scaled
from cnnlab.models.core import register

AIRNET_WIDTHS = (16, 64, 64)  # stage1..3 channels at width 1
AIRNET_LOGIT_SCALE = 1 / 9
WHITEN_KERNEL = 2  # patch side, pixels
WHITEN_EPS = 5e-4  # added to the eigenvalues: keeps the noisiest directions from exploding
WHITEN_IMAGES = 5000  # training images the patch covariance is estimated from
BN_MOMENTUM = 0.4  # PyTorch convention: running = 0.6 * running + 0.4 * batch


class PatchWhitening(nn.Conv2d):
    """A `kernel` x `kernel` valid conv whose fixed weights whiten the input's patches.

    (B, C, H, W) -> (B, 2*C*k*k, H-k+1, W-k+1). `fitted` (a buffer, saved with the weights)
    says whether `fit` ran, so loaded weights are never refitted."""

    def __init__(self, in_ch: int, kernel: int = WHITEN_KERNEL) -> None:
        super().__init__(in_ch, 2 * in_ch * kernel * kernel, kernel, padding=0, bias=True)
        self.weight.requires_grad_(False)
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Set the weights from images `x` (N, C, H, W), already normalised as this layer sees them."""
        c, k = self.in_channels, self.kernel_size[0]
        patches = x.float().unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H', W', k, k)
        flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)  # one row per patch
        cov = flat.T @ flat / len(flat)  # (C*k*k, C*k*k)
        values, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
        order = values.flip(0)
        filters = vectors.T.flip(0).reshape(-1, c, k, k) / (order + WHITEN_EPS).sqrt().view(
            -1, 1, 1, 1
        )
        self.weight.copy_(torch.cat([filters, -filters]).to(self.weight))
        self.fitted.fill_(True)


class FrozenScaleNorm(nn.BatchNorm2d):
    """Batch-norm whose scale stays 1 (only the shift trains), with fast-moving statistics."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, momentum=BN_MOMENTUM)
        self.weight.requires_grad_(False)


def _identity_start(conv: nn.Conv2d) -> nn.Conv2d:
    """Its first min(out, in) filters pass their input channel through (dirac); the rest random."""
    with torch.no_grad():
        n = min(conv.out_channels, conv.in_channels)
        nn.init.dirac_(conv.weight[:n])
    return conv


def air_stage(in_ch: int, out_ch: int, *, pool: bool) -> nn.Sequential:
    """conv -> [pool] -> bn -> gelu -> conv -> bn -> gelu, with named children (`conv1`, ...)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv1"] = _identity_start(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False))
    if pool:
        layers["pool"] = nn.MaxPool2d(2)
    layers["bn1"] = FrozenScaleNorm(out_ch)
    layers["act1"] = nn.GELU()
    layers["conv2"] = _identity_start(nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False))
    layers["bn2"] = FrozenScaleNorm(out_ch)
    layers["act2"] = nn.GELU()
    return nn.Sequential(layers)


@register(
    "airnet",
    "AirNet (CIFAR-10 speed recipe)",
    "After airbench: a fixed 2x2 patch-whitening layer fitted to the training images, then three "
    "stages of two 3x3 convs (16, 64 and 64 filters times width) with 2x2 max pooling, batch-norm "
    "and GELU, then global max pooling and a scaled linear head. Whitened inputs and identity-"
    "initialised convs let it learn in few epochs.",
    scales_with_width=True,
)
def airnet(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    sides = Sides(input_shape)
    sides.conv(WHITEN_KERNEL, padding=0)
    stem = PatchWhitening(input_shape[0])
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["stem"] = nn.Sequential(OrderedDict(conv=stem, act=nn.GELU()))
    in_ch = stem.out_channels
    for i, base in enumerate(AIRNET_WIDTHS, 1):
        out_ch = scaled(base, cfg)
        layers[f"stage{i}"] = air_stage(in_ch, out_ch, pool=sides.pool(2))
        in_ch = out_ch
    layers["head"] = max_scaled_head(in_ch, num_classes, AIRNET_LOGIT_SCALE)
    return nn.Sequential(layers)


@torch.no_grad()
def fit_whitening(model: nn.Module, images: torch.Tensor) -> int:
    """Fit every unfitted `PatchWhitening` of `model` to uint8 training images (N, C, H, W): the
    first WHITEN_IMAGES are run through the model up to that layer. Returns how many it fitted
    (0 for other models, or when the weights came from a checkpoint or another run)."""
    layers = [m for m in model.modules() if isinstance(m, PatchWhitening) and not bool(m.fitted)]
    if not layers:
        return 0
    seen: dict[PatchWhitening, torch.Tensor] = {}

    def grab(layer: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        seen[layer] = args[0]  # type: ignore[index]
        raise _Seen

    device = next(model.parameters()).device
    x = images[:WHITEN_IMAGES].to(device).float().div_(255.0)
    was_training = model.training
    model.eval()
    try:
        for layer in layers:
            handle = layer.register_forward_pre_hook(grab)
            try:
                model(x)
            except _Seen:
                pass
            finally:
                handle.remove()
            layer.fit(seen[layer])
    finally:
        model.train(was_training)
    return len(layers)


class _Seen(Exception):
    """Ends a forward pass once the layer being fitted has seen its input."""
