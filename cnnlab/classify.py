"""Classifying user images (uploads, webcam photos, drawings) into one results table.

Each file is decoded safely (`images.open_image`), prepared like the training data
(`inference.prepare_steps`, keeping every intermediate picture) and all readable files are predicted in one batched forward pass. A file
that cannot be read gets its own message and never stops the others; a blank one (an empty
canvas, a white page) gets "nothing to read here" instead of a guess. No streamlit here: the Classify
page caches `classify_files` and draws what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import PIL.Image
import torch
from torch import nn

from cnnlab.config import Preprocess
from cnnlab.data.images import ImageError, open_image
from cnnlab.explain import feature_maps, grad_cam
from cnnlab.inference import Prediction, predict_images, prepare_steps

IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]  # upload suffixes
THUMBNAIL_SIDE = 256  # pixels: the longer side of the kept copy of the original (for display)


@dataclass(frozen=True, eq=False)
class Classified:
    """One file's outcome: either `error` is set, or the model input and prediction are."""

    name: str  # the file name as uploaded ("drawing", "camera photo" for the other sources)
    error: str = ""  # why the file could not be classified; "" when it was
    blank: bool = False  # `error` is "nothing to read here: ..." (readable, but nothing in it)
    thumbnail: PIL.Image.Image | None = None  # the decoded original, longer side <= THUMBNAIL_SIDE
    size: tuple[int, int] | None = None  # (width, height) of the decoded original, pixels
    x: torch.Tensor | None = None  # uint8 (C, H, W): the image as the network sees it
    inverted: bool = False  # colours were inverted before predicting
    prediction: Prediction | None = None
    heat: np.ndarray | None = None  # float32 (H, W) in [0, 1]: Grad-CAM of the top class
    layer: str | None = None  # the conv layer `heat` was measured at
    steps: tuple[tuple[str, PIL.Image.Image], ...] = ()  # (caption, picture): original -> input

    @property
    def ok(self) -> bool:
        return not self.error


def prepare_file(
    name: str,
    data: bytes,
    preprocess: Preprocess,
    invert: bool | None = None,
    fit: str | None = None,
) -> Classified:
    """Decode and prepare one file (no model needed); an unreadable or blank file returns its
    message in `error` (`blank` True for a blank one). `fit`: "crop" | "pad" for photo models."""
    try:
        img = open_image(data)
    except ImageError as exc:
        return Classified(name, error=str(exc))
    prepared = prepare_steps(img, preprocess, invert, fit=fit)
    # reduce() is a fast box filter; the thumbnail then needs only a small resize
    thumbnail = img.reduce(max(1, max(img.size) // (2 * THUMBNAIL_SIDE)))
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    common = dict(thumbnail=thumbnail, size=img.size, steps=tuple(prepared.steps))
    if prepared.blank:
        return Classified(name, error=prepared.blank, blank=True, **common)
    return Classified(name, x=prepared.x, inverted=prepared.inverted, **common)


def cam_layer(model: nn.Module, x: torch.Tensor) -> str | None:
    """The last conv layer (forward order) whose maps are bigger than 1x1 for input x (C, H, W).

    Grad-CAM at a 1x1 layer (a tiny input after pooling) is one flat colour; an earlier layer
    still says where the network looked. None when the model has no conv layer.
    """
    maps = feature_maps(model, x)  # [(name, (C', H', W'))]
    spatial = [name for name, m in maps if m.shape[1] * m.shape[2] > 1]
    return (spatial or [name for name, _ in maps] or [None])[-1]


def classify_files(
    model: nn.Module,
    files: Iterable[tuple[str, bytes]],
    class_names: list[str],
    preprocess: Preprocess,
    *,
    invert: bool | None = None,
    fit: str | None = None,
    k: int = 3,
    with_grad_cam: bool = True,
) -> list[Classified]:
    """(file name, bytes) pairs -> one Classified each, in the same order.

    Readable files are predicted together (one forward pass); `k` classes are kept per prediction.
    `with_grad_cam` adds the Grad-CAM heat map of each file's top class at `cam_layer` (none when
    the model has no conv layer).
    """
    prepared = [prepare_file(name, data, preprocess, invert, fit) for name, data in files]
    good = [item for item in prepared if item.ok]
    predictions = predict_images(model, [item.x for item in good], class_names, k=k)
    layer = cam_layer(model, good[0].x) if good and with_grad_cam else None
    done = {}
    for item, prediction in zip(good, predictions, strict=True):
        top = int(np.argmax(prediction.probs))
        heat = grad_cam(model, item.x, top, layer=layer) if layer else None
        done[id(item)] = Classified(
            item.name,
            thumbnail=item.thumbnail,
            size=item.size,
            x=item.x,
            inverted=item.inverted,
            prediction=prediction,
            heat=heat,
            layer=layer,
            steps=item.steps,
        )
    return [done.get(id(item), item) for item in prepared]


def results_table(results: Iterable[Classified], top: int = 3) -> pd.DataFrame:
    """One row per file: file, top class, confidence (0..1), top-3 text, error ("" when fine)."""
    rows = []
    for item in results:
        pred = item.prediction
        rows.append(
            {
                "file": item.name,
                "top class": pred.top[0][0]
                if pred
                else ("nothing to read" if item.blank else None),
                "confidence": pred.top[0][1] if pred else None,
                f"top-{top}": ", ".join(f"{c} {p:.1%}" for c, p in pred.top[:top]) if pred else "",
                "error": item.error,
            }
        )
    return pd.DataFrame(rows, columns=["file", "top class", "confidence", f"top-{top}", "error"])
