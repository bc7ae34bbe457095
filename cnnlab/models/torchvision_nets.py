"""torchvision's ResNet-18 and MobileNetV3-Small, adapted to small inputs and any channel/class
count, and their ImageNet weights: read from the torch cache, downloaded there (with progress)
when missing; offline without them `ImageNetUnavailable` says which file to put where. The
builders build the architecture only: `cnnlab.finetune.prepare` loads the weights when a run
asks for them (so the Model page's summary never downloads 45 MB).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.error import URLError

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.config import ModelConfig
from cnnlab.models.blocks import Shape
from cnnlab.models.core import register

if TYPE_CHECKING:  # torchvision is imported when a net is built: it costs ~1.5 s (torch._dynamo),
    from torchvision import models as tvm  # which `cnnlab predict` of a small CNN need not pay

Progress = Callable[[int, int], None]  # (bytes done, bytes in all; 0 = unknown)
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


class ImageNetUnavailable(RuntimeError):
    """ImageNet weights that are neither in the torch cache nor downloadable; the message names
    the file expected and the folder to put it in."""


@dataclass(frozen=True)
class ImageNetSource:
    """Where a torchvision net's ImageNet weights come from and how they map onto our body."""

    weights: str  # torchvision weights enum and member, e.g. "ResNet18_Weights.IMAGENET1K_V1"
    conv: str  # the first conv (its filters are adapted to the input's channels and kernel)
    head: str  # prefix of the classifier layer, rebuilt for the dataset's classes

    def enum(self) -> tvm.WeightsEnum:
        from torchvision import models as tvm

        cls, member = self.weights.split(".")
        return getattr(getattr(tvm, cls), member)


IMAGENET: dict[str, ImageNetSource] = {}  # model name -> its ImageNet weights (filled below)


def unavailable_message(name: str, path: Path, reason: str) -> str:
    """The offline message: which file, which folder, how to get it (like a missing dataset)."""
    url = IMAGENET[name].enum().url
    return (
        f"ImageNet weights for '{name}' are not available: {reason}\n"
        f"Expected the file {path.name} in the torch cache folder {path.parent}\n"
        f"To get it: on a machine with internet download {url} (or run this once there: it is "
        f"saved in that folder), then copy it into {path.parent} here; or set TORCH_HOME to a "
        "folder whose hub/checkpoints holds it. Or train from scratch (untick ImageNet weights)."
    )


def fetch_imagenet(name: str, progress: Progress | None = None) -> Path:
    """The cached ImageNet weights file of model `name`, downloaded first when missing
    (`progress(done_bytes, total_bytes)` a few times a second); ImageNetUnavailable if neither."""
    path = hub_checkpoint(IMAGENET[name].enum())
    if path.is_file():
        return path
    try:
        download(IMAGENET[name].enum().url, path, progress)
    except (OSError, ValueError) as err:  # URLError, timeouts, HTTP errors, a wrong hash
        reason = f"not in the torch cache and the download failed ({type(err).__name__}: {err})"
        if isinstance(err, URLError | ConnectionError | TimeoutError):
            reason += ". Is this machine offline?"
        raise ImageNetUnavailable(unavailable_message(name, path, reason)) from err
    return path


def download(url: str, path: Path, progress: Progress | None, chunk: int = 1 << 16) -> None:
    """`url` -> `path` as torch.hub's `download_url_to_file` (a temp file beside it, the sha256
    prefix in the file name checked, then an atomic rename), reporting `progress(done, total)`."""
    from urllib.request import Request, urlopen

    prefix = torch.hub.HASH_REGEX.search(path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, done, last = hashlib.sha256(), 0, 0.0
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with urlopen(Request(url, headers={"User-Agent": "cnnlab"}), timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0)
            with open(tmp, "wb") as f:
                while block := response.read(chunk):
                    f.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress and (time.monotonic() - last > 0.5 or done == total):
                        progress(done, total)
                        last = time.monotonic()
        if prefix and not digest.hexdigest().startswith(prefix.group(1)):
            raise ValueError(f"the downloaded file's sha256 does not start with {prefix.group(1)}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_imagenet(body: nn.Module, name: str, progress: Progress | None = None) -> list[str]:
    """ImageNet weights into `body` (model `name`, as its builder made it): every tensor but the
    head's, the first conv adapted to the input. Returns the names of the tensors loaded.
    ImageNetUnavailable when the file cannot be had; ValueError when it does not fit."""
    source = IMAGENET[name]
    path = fetch_imagenet(name, progress)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: name it, never train on without
        raise ValueError(f"the cached ImageNet weights {path} cannot be read ({err}): delete "
                         "the file to download it again") from err  # fmt: skip
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a state dict (found {type(state).__name__})")
    new: dict[str, torch.Tensor] = {}
    for key, value in body.state_dict().items():
        if key.startswith(source.head) or (
            key.endswith("num_batches_tracked") and key not in state
        ):
            continue
        if key not in state:
            raise ValueError(f"the ImageNet weights {path} do not fit: {key} is missing")
        src = state[key]
        if key == f"{source.conv}.weight":
            src = _adapt_conv_weight(src, value.shape[1], value.shape[-1])
        if src.shape != value.shape:
            raise ValueError(f"the ImageNet weights {path} do not fit: {key} has shape "
                             f"{tuple(src.shape)}, expected {tuple(value.shape)}")  # fmt: skip
        new[key] = src
    body.load_state_dict(new, strict=False)
    return list(new)


def _new_conv(old: nn.Conv2d, in_ch: int, kernel: int, stride: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_ch, old.out_channels, kernel, stride, kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


@register(
    "resnet18",
    "ResNet-18 (torchvision)",
    "torchvision's ResNet-18 (11 M parameters). For images up to 64 px the stem becomes a stride-1 "
    "3x3 conv without max pooling, so small images keep their detail. Can start from ImageNet weights "
    "(downloaded once into the torch cache). Heavy on a CPU.",
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
    return body


@register(
    "mobilenet-v3-small",
    "MobileNetV3-Small (torchvision)",
    "torchvision's MobileNetV3-Small (1.5 M parameters): depthwise-separable inverted residual "
    "blocks with squeeze-excitation. For images up to 64 px the first conv has stride 1. Can "
    "start from ImageNet weights (downloaded once into the torch cache).",
    imagenet_weights=True,
)
def mobilenet_v3_small(*, input_shape: Shape, num_classes: int, cfg: ModelConfig) -> nn.Module:
    from torchvision import models as tvm

    body = tvm.mobilenet_v3_small(weights=None, num_classes=num_classes)
    small = max(input_shape[1:]) <= SMALL_SIDE
    first = body.features[0][0]
    if small or input_shape[0] != 3:
        body.features[0][0] = _new_conv(first, input_shape[0], 3, 1 if small else 2)
    return body


IMAGENET["resnet18"] = ImageNetSource("ResNet18_Weights.IMAGENET1K_V1", "conv1", "fc.")
IMAGENET["mobilenet-v3-small"] = ImageNetSource(
    "MobileNet_V3_Small_Weights.IMAGENET1K_V1", "features.0.0", "classifier.3."
)
