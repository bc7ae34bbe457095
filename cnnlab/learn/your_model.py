"""Lesson 6, the user's model: what its first conv layers make of the lesson image."""

from __future__ import annotations

from dataclasses import dataclass

import PIL.Image
import torch
from torch import nn

from cnnlab.config import Preprocess
from cnnlab.explain import feature_maps
from cnnlab.inference import prepare_image


@dataclass(frozen=True, eq=False)
class ModelView:
    input: torch.Tensor  # uint8 (C, H, W): the image as the model sees it
    maps: list[tuple[str, torch.Tensor]]  # (conv layer name, float (C', H', W') after activation)


def first_feature_maps(
    model: nn.Module, preprocess: Preprocess, img: PIL.Image.Image, layers: int = 2
) -> ModelView:
    """The activations of the model's first `layers` conv layers on `img`, resized and converted
    to the model's input shape as for a prediction."""
    x = prepare_image(img, preprocess, on_blank="keep")  # uint8 (C, H, W), even if blank
    return ModelView(x, feature_maps(model, x)[:layers])
