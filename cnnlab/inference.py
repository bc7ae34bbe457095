"""Classifying user images: make a PIL image look like the training data, then predict."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.config import Preprocess
from cnnlab.data.images import image_to_tensor


def border_mean(x: torch.Tensor) -> float:
    """Mean of the outermost rows and columns of uint8 (C, H, W), 0..255 (the background level)."""
    border = torch.cat(
        [x[:, 0, :], x[:, -1, :], x[:, :, 0], x[:, :, -1]], dim=1
    )  # (C, 2W + 2H); corners counted twice, which does not matter for a mean
    return border.float().mean().item()


def prepare_image(
    img: PIL.Image.Image, preprocess: Preprocess, invert: bool | None = None
) -> torch.Tensor:
    """uint8 (C, H, W) model input from a decoded image: resized and converted to the model's channels.

    invert=None decides automatically: invert when the model saw light strokes on a dark background
    (`preprocess.light_background` False), is single-channel and the image has a light border
    (mean > 127), e.g. a photo of a black digit on white paper fed to an MNIST model.
    """
    channels, height, width = preprocess.input_shape
    x = image_to_tensor(img, size=(height, width), channels=channels)  # (C, H, W) uint8
    if invert is None:
        invert = not preprocess.light_background and channels == 1 and border_mean(x) > 127
    return 255 - x if invert else x


def forward_probs(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Softmax probabilities float32 (N, K) of uint8 images (N, C, H, W) in one forward pass, as
    `cnnlab.evaluate.predict_probs` computes them (that module loads pandas, which `cnnlab
    predict` does not need: a process classifying one image starts in under 3 s without it)."""
    from cnnlab.models import device_of

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(x.to(device_of(model)).float().div_(255))  # (N, K)
            return F.log_softmax(logits.float(), dim=1).exp().cpu().numpy()
    finally:
        model.train(was_training)


@dataclass(frozen=True, eq=False)
class Prediction:
    probs: np.ndarray  # float32 (K,) softmax probabilities, sum 1
    top: list[tuple[str, float]]  # the k most likely (class name, probability), most likely first


def predict_images(
    model: nn.Module, images: list[torch.Tensor], class_names: list[str], k: int = 3
) -> list[Prediction]:
    """One batched forward pass over uint8 (C, H, W) images of the same shape -> one Prediction each."""
    if not images:
        return []
    x = torch.stack([torch.as_tensor(img) for img in images])  # (N, C, H, W) uint8
    probs = forward_probs(model, x)  # (N, K)
    if probs.shape[1] != len(class_names):
        raise ValueError(
            f"the model outputs {probs.shape[1]} classes but {len(class_names)} class names were given"
        )
    k = max(0, min(k, len(class_names)))
    predictions = []
    for p in probs:
        order = np.argsort(-p, kind="stable")[:k]
        top = [(class_names[i], float(p[i])) for i in order]
        predictions.append(Prediction(probs=p, top=top))
    return predictions
