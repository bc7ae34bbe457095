"""Classifying user images: make a PIL image look like the training data, then predict.

`prepare_steps` is the one preprocessing path (Classify's upload, webcam and canvas, Inspect,
Learn and `cnnlab predict` all reach it through `prepare_image`). It follows the run's saved
`Preprocess.style`: "digit" runs the MNIST procedure (`cnnlab.digitprep`), "photo" keeps the
aspect ratio by a centre crop or padding. Every intermediate picture is kept for the page's
"as the network sees it" strip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.config import Preprocess
from cnnlab.data.images import image_to_array
from cnnlab.digitprep import NothingToRead, digit_pipeline

FITS = ("crop", "pad")  # photo style: centre crop to the input's aspect, or pad to it
STEP_SIDE = 96  # pixels: longer side of each picture kept for the step strip
PHOTO_BLANK_RANGE = 12  # grey levels: a photo whose 1st..99th percentiles span less is blank

__all__ = ["FITS", "NothingToRead", "Prepared", "prepare_image", "prepare_steps"]


@dataclass(frozen=True, eq=False)
class Prepared:
    """The model input and how it was made; `x` is None when there was nothing to read."""

    x: torch.Tensor | None  # uint8 (C, H, W): the image as the network sees it
    steps: list[tuple[str, PIL.Image.Image]]  # (caption, small picture), original first
    inverted: bool = False  # colours were inverted
    blank: str = ""  # "nothing to read here: ..." when the image is blank, else ""


def border_mean(x: torch.Tensor) -> float:
    """Mean of the outermost rows and columns of uint8 (C, H, W), 0..255 (the background level)."""
    border = torch.cat(
        [x[:, 0, :], x[:, -1, :], x[:, :, 0], x[:, :, -1]], dim=1
    )  # (C, 2W + 2H); corners counted twice, which does not matter for a mean
    return border.float().mean().item()


def small(img: PIL.Image.Image | np.ndarray, side: int = STEP_SIDE) -> PIL.Image.Image:
    """A display copy: PIL image or float 0..1 / uint8 array, longer side <= `side` (nearest-
    neighbour upscaling for tiny inputs, so the pixels stay visible)."""
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8:
            img = np.clip(img * 255 if img.max() <= 1.0 else img, 0, 255).round().astype(np.uint8)
        img = PIL.Image.fromarray(img)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    img = img.reduce(max(1, max(img.size) // (2 * side)))  # a box filter first: fast on 12 MP
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    filt = PIL.Image.Resampling.NEAREST if scale > 1 else PIL.Image.Resampling.BILINEAR
    return img.resize(size, filt)


def fit_photo(
    img: PIL.Image.Image, size: tuple[int, int], fit: str, fill: tuple
) -> PIL.Image.Image:
    """`img` shaped to (H, W) = `size` without distortion: "crop" cuts the centre to the target's
    aspect ratio, "pad" adds `fill`-coloured borders; then one anti-aliased resize."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    height, width = size
    if fit == "crop":
        return PIL.ImageOps.fit(img, (width, height), PIL.Image.Resampling.BILINEAR)
    return PIL.ImageOps.pad(img, (width, height), PIL.Image.Resampling.BILINEAR, color=fill)


def _photo_steps(
    img: PIL.Image.Image, preprocess: Preprocess, invert: bool | None, fit: str
) -> Prepared:
    channels, height, width = preprocess.input_shape
    steps = [("original", small(img))]
    img = img if img.mode in ("L", "RGB") else img.convert("RGB")
    fill = tuple(round(m * 255) for m in preprocess.mean)
    fill = fill * 3 if len(fill) == 1 else fill
    shaped = fit_photo(img.convert("RGB"), (height, width), fit, fill[:3])
    steps.append(("centre crop" if fit == "crop" else "padded to shape", small(shaped)))
    x = torch.from_numpy(image_to_array(shaped, (height, width), channels))  # (C, H, W) uint8
    if channels == 1:
        steps.append(("grey", small(x[0].numpy())))
    if invert is None:  # light paper for a model trained on light-on-dark: invert (as before)
        invert = not preprocess.light_background and channels == 1 and border_mean(x) > 127
    x = 255 - x if invert else x
    if invert:
        steps.append(("inverted", small(x[0].numpy() if channels == 1 else _hwc(x))))
    steps.append(
        (f"model input {width}×{height}", small(x[0].numpy() if channels == 1 else _hwc(x)))
    )
    lo, hi = np.percentile(x.numpy(), [1, 99])
    blank = ""
    if hi - lo < PHOTO_BLANK_RANGE:
        blank = (
            f"nothing to read here: the image is nearly uniform (its levels span {hi - lo:.0f} "
            "of 255); photograph or draw something with visible detail"
        )
    return Prepared(x, steps, inverted=bool(invert), blank=blank)


def _hwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.numpy().transpose(1, 2, 0))  # (H, W, 3) uint8


def _digit_steps(img: PIL.Image.Image, preprocess: Preprocess, invert: bool | None) -> Prepared:
    channels, height, width = preprocess.input_shape
    box = preprocess.resolved_digit_box
    steps = [("original", small(img))]
    try:
        d = digit_pipeline(img, box, (height, width), invert)
    except NothingToRead as exc:
        hint = ""
        if invert is not None:  # a forced choice may have turned the ink into the background
            hint = f" (colours were {'inverted' if invert else 'kept'} by choice: try Auto)"
        return Prepared(None, steps, blank=str(exc) + hint)
    steps += [
        ("grey, inverted" if d.inverted else "grey", small(d.grey.astype(np.uint8))),
        ("background 0, strokes full", small(d.ink)),
        ("cropped to the ink", small(d.crop)),
    ]
    out = torch.from_numpy((d.out * 255).round().astype(np.uint8))[None]  # (1, H, W)
    if preprocess.light_background:  # a model trained on dark strokes over light paper
        out = 255 - out
    steps.append(
        (f"fitted to {box}×{box}, centred: model input {width}×{height}", small(out[0].numpy()))
    )
    x = out.expand(channels, height, width).contiguous()
    return Prepared(x, steps, inverted=d.inverted)


def prepare_steps(
    img: PIL.Image.Image,
    preprocess: Preprocess,
    invert: bool | None = None,
    *,
    fit: str | None = None,
) -> Prepared:
    """The model input for a decoded image, with every intermediate picture.

    invert None decides automatically (digit style: dark ink on light paper is inverted; photo
    style: a light-bordered image for a one-channel light-on-dark model, as before). `fit` ("crop"
    or "pad", photo style only) overrides `preprocess.fit`. A blank image gets `blank` set (digit
    style: `x` None).
    """
    if preprocess.resolved_style == "digit":
        return _digit_steps(img, preprocess, invert)
    return _photo_steps(img, preprocess, invert, fit or preprocess.fit)


def prepare_image(
    img: PIL.Image.Image,
    preprocess: Preprocess,
    invert: bool | None = None,
    *,
    fit: str | None = None,
    on_blank: str = "raise",
) -> torch.Tensor:
    """uint8 (C, H, W) model input of a decoded image (`prepare_steps` without the pictures).

    A blank image raises NothingToRead (an ImageError: "nothing to read here: ...");
    `on_blank="keep"` returns its input anyway (digit style: all background, 0), for views that
    show what the network makes of any picture (the Learn page).
    """
    if on_blank not in ("raise", "keep"):
        raise ValueError(f"on_blank must be 'raise' or 'keep', got {on_blank!r}")
    prepared = prepare_steps(img, preprocess, invert, fit=fit)
    if prepared.blank and on_blank == "raise":
        raise NothingToRead(prepared.blank)
    if prepared.x is None:  # a blank digit: the empty field
        return torch.zeros(preprocess.input_shape, dtype=torch.uint8)
    return prepared.x


def predict_log_probs(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Log-softmax of the model's logits for uint8 images `x` (N, C, H, W) -> float32 (N, K) cpu."""
    x = torch.as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    from cnnlab.models import device_of  # lazily: the predict path stays light

    device = device_of(model)
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            # Convert uint8 -> float one batch at a time: the whole split never exists as float.
            # An empty split still runs one (empty) forward pass so the result has K columns.
            for start in range(0, max(len(x), 1), max(1, batch_size)):
                xb = x[start : start + batch_size].to(device).float().div_(255)  # (B, C, H, W)
                logits = model(xb)  # (B, K)
                chunks.append(F.log_softmax(logits.float(), dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks)


def forward_probs(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Softmax probabilities float32 (N, K) of uint8 images (N, C, H, W). Lives here, not in
    `cnnlab.evaluate` (which loads pandas and scikit-learn), so `cnnlab predict` starts fast."""
    return predict_log_probs(model, x).exp().numpy()


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
