"""Lesson 10, augmentation: each transform of `cnnlab.data.augment` on its own over a batch, and
why flipping is wrong for digits, measured: a mirrored digit is often nearer another class.

The measure is a nearest-class-mean classifier (scikit-learn's `NearestCentroid`, written out:
tests/test_learn2.py compares the two) fitted on the training images: for each class, the share
of its test images that the classifier still calls that class, before and after a mirror.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from cnnlab.config import AugmentConfig
from cnnlab.data import ImageDataset
from cnnlab.data.augment import augment_batch
from cnnlab.learn.figures import layout
from cnnlab.plots import TRAIN_COLOR, VAL_COLOR
from cnnlab.text import html_escape

# name -> (what it does, the AugmentConfig of that transform alone at strength s in (0, 1])
TRANSFORMS = {
    "crop": ("pad by up to a quarter of the side, cut back at a random place",
             lambda s, side: AugmentConfig(crop_padding=max(1, round(s * side / 4)))),
    "translate": ("shift by up to s × the side",
                  lambda s, side: AugmentConfig(translate=0.3 * s)),
    "flip": ("mirror left-right, half of the images",
             lambda s, side: AugmentConfig(hflip=True)),
    "rotate": ("turn by up to s × 90°", lambda s, side: AugmentConfig(rotate_degrees=90 * s)),
    "colour": ("brightness, contrast and saturation × [1 − s, 1 + s]",
               lambda s, side: AugmentConfig(color_jitter=s)),
    "erasing": ("blank one random rectangle, with probability s",
                lambda s, side: AugmentConfig(erasing=s)),
}  # fmt: skip


def transform_config(name: str, strength: float, side: int) -> AugmentConfig:
    """The AugmentConfig of transform `name` alone at `strength` in (0, 1] on images `side` px."""
    if name not in TRANSFORMS:
        raise KeyError(f"unknown transform {name!r}; choose one of: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[name][1](float(np.clip(strength, 0.05, 1.0)), side)


def augmented(x: torch.Tensor, cfg: AugmentConfig, seed: int = 0) -> torch.Tensor:
    """uint8 (N, C, H, W) through `augment_batch` (seeded) -> uint8, same shape."""
    generator = torch.Generator().manual_seed(seed)
    out = augment_batch(x.float().div(255), cfg, generator)
    return (out * 255).round().clamp(0, 255).to(torch.uint8)


def nearest_mean(
    train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, num_classes: int
) -> np.ndarray:
    """Class of each row of x (N, D): the class whose mean training row (K, D) is nearest
    (Euclidean). The simplest classifier there is: it knows what each class looks like on average."""
    means = np.stack([train_x[train_y == k].mean(axis=0) for k in range(num_classes)])  # (K, D)
    dist = ((x[:, None, :] - means[None]) ** 2).sum(axis=2)  # (N, K)
    return dist.argmin(axis=1)


@dataclass(frozen=True)
class FlipCheck:
    class_names: tuple[str, ...]
    kept: tuple[float, ...]  # per class: share of test images called their class, as they are
    kept_flipped: tuple[float, ...]  # ... and once mirrored left-right

    @property
    def worst(self) -> int:
        """The class that loses most from a mirror."""
        return int(np.argmax(np.subtract(self.kept, self.kept_flipped)))


def flip_check(dataset: ImageDataset) -> FlipCheck:
    """How well a nearest-class-mean classifier recognises `dataset`'s test images before and
    after a horizontal mirror, per class."""
    k = dataset.num_classes
    train_x = dataset.train.x.float().flatten(1).numpy()  # (N, C*H*W)
    train_y = dataset.train.y.numpy()
    test = dataset.test.x.float()
    test_y = dataset.test.y.numpy()
    kept, flipped = [], []
    plain = nearest_mean(train_x, train_y, test.flatten(1).numpy(), k)
    mirrored = nearest_mean(train_x, train_y, test.flip(-1).flatten(1).numpy(), k)
    for c in range(k):
        mine = test_y == c
        kept.append(float((plain[mine] == c).mean()) if mine.any() else 0.0)
        flipped.append(float((mirrored[mine] == c).mean()) if mine.any() else 0.0)
    return FlipCheck(tuple(dataset.class_names), tuple(kept), tuple(flipped))


def flip_figure(check: FlipCheck, title: str) -> go.Figure:
    """Per class: recognised as they are vs once mirrored."""
    names = [html_escape(c) for c in check.class_names]
    fig = go.Figure()
    fig.add_bar(x=names, y=check.kept, name="as they are", marker_color=TRAIN_COLOR)
    fig.add_bar(x=names, y=check.kept_flipped, name="mirrored", marker_color=VAL_COLOR)
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title="still called their class")
    fig.update_layout(
        barmode="group",
        title=dict(text=f"{html_escape(title)}: recognised by the nearest class average", x=0),
        legend=dict(orientation="h", y=-0.2, x=0),
    )
    return layout(fig, 340, top=50, margin_b=50)


def transform_rows(
    x: torch.Tensor, names: Sequence[str], strength: float, seed: int = 0
) -> list[tuple[str, torch.Tensor]]:
    """(transform name, the batch through it alone) for each of `names`, same seed each."""
    side = int(x.shape[-1])
    return [(n, augmented(x, transform_config(n, strength, side), seed)) for n in names]
