"""The image every lesson uses: a dataset's test image or an upload, as gray floats to convolve
and as the original picture to show and to feed the user's model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch

from cnnlab.data import ImageDataset
from cnnlab.data.images import tensor_to_pil
from cnnlab.text import md_escape


@dataclass(frozen=True, eq=False)
class LessonImage:
    """The image every lesson uses."""

    gray: np.ndarray  # float64 (H, W) in [0, 1]: what the lessons convolve
    picture: PIL.Image.Image  # the original ("L" or "RGB"): shown, and fed to the user's model
    caption: str  # markdown: what and where from, e.g. "a **triangle**, test image 12 (32×32)"
    label: int | None  # its class index in `class_names`, None for an upload
    class_names: list[str]  # the classes of its dataset (an upload borrows a dataset's)


def dataset_image(dataset: ImageDataset, index: int) -> LessonImage:
    """Test image `index` of `dataset` (wrapped around when out of range)."""
    index = index % len(dataset.test)
    x = dataset.test.x[index]  # uint8 (C, H, W)
    label = int(dataset.test.y[index])
    caption = f"a **{md_escape(dataset.class_names[label])}**, test image {index} ({x.shape[1]}×{x.shape[2]})"
    return LessonImage(to_gray(x), tensor_to_pil(x), caption, label, list(dataset.class_names))


def uploaded_image(img: PIL.Image.Image, name: str, class_names: list[str]) -> LessonImage:
    """A decoded upload (see `cnnlab.data.images.open_image`), shrunk for the lessons."""
    gray = lesson_image(img)
    caption = f"**{md_escape(name)}**, shown {gray.shape[0]}×{gray.shape[1]} in gray"
    return LessonImage(gray, img, caption, None, list(class_names))


def to_gray(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """uint8 image (C, H, W) -> float64 (H, W) in [0, 1], the mean over the channels."""
    x = np.asarray(torch.as_tensor(x).cpu().numpy(), dtype=np.float64)  # (C, H, W)
    return x.mean(axis=0) / 255.0


def lesson_image(img: PIL.Image.Image, max_side: int = 64) -> np.ndarray:
    """A decoded upload -> float64 (H, W) in [0, 1], shrunk so its longer side is <= max_side
    (a phone photo would give a feature map too fine to see and slow the page)."""
    gray = img.convert("L")
    gray.thumbnail((max_side, max_side), PIL.Image.Resampling.LANCZOS)  # keeps the aspect ratio
    return np.asarray(gray, dtype=np.float64) / 255.0


def enlarged(img: PIL.Image.Image, side: int) -> PIL.Image.Image:
    """`img` scaled up by a whole factor (nearest neighbour: pixels stay sharp squares) until its
    longer side reaches `side`; larger images are returned unchanged."""
    factor = side // max(img.size)
    if factor <= 1:
        return img
    return img.resize((img.width * factor, img.height * factor), PIL.Image.Resampling.NEAREST)
