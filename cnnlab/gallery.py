"""What the Data page shows, as data: sample images per class, class counts, augmentation previews,
and the hero picture of the Home page (`python -m cnnlab.gallery` regenerates assets/hero.png).

No streamlit here: the page caches these results and draws them with `cnnlab.plots`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import plotly.graph_objects as go
import torch

from cnnlab import plots
from cnnlab.config import AugmentConfig
from cnnlab.data import DataSplit, ImageDataset
from cnnlab.data.augment import augment_preview
from cnnlab.text import md_escape

DISPLAY_SIDE = 64  # pixels: small images are enlarged (nearest neighbour) to about this on screen


@dataclass(frozen=True)
class Tiles:
    """Images laid out for `plots.image_grid`."""

    images: torch.Tensor  # uint8 (N, C, H, W), row by row
    titles: list[str]  # one per image ("" = untitled)
    cols: int  # images per row
    note: str = ""  # what was left out, if anything


def tiles_figure(tiles: Tiles) -> go.Figure:
    """`plots.image_grid` of `tiles`: one picture (torchvision's make_grid) shown pixel for pixel,
    small images enlarged (nearest neighbour) to about DISPLAY_SIDE, titles above their tiles."""
    side = int(tiles.images.shape[-1]) if len(tiles.images) else DISPLAY_SIDE
    upscale = DISPLAY_SIDE if side < DISPLAY_SIDE else 0
    return plots.image_grid(tiles.images, tiles.titles, cols=tiles.cols, upscale_to=upscale)


def class_samples(
    split: DataSplit, class_names: list[str], per_class: int = 8, max_classes: int = 20
) -> Tiles:
    """The first `per_class` images of each class (of the first `max_classes`), one group per class.

    Groups sit two to a row when there are more than 4 classes; a class with fewer images is
    padded with blank (white) tiles so the groups stay aligned. Each group is titled by its class.
    """
    shown = class_names[:max_classes]
    _, c, h, w = split.x.shape
    blank = torch.full((c, h, w), 255, dtype=torch.uint8)
    images, titles = [], []
    for k, name in enumerate(shown):
        idx = torch.nonzero(split.y == k).flatten()[:per_class]
        group = [split.x[i] for i in idx] + [blank] * (per_class - len(idx))
        images += group
        titles += [name] + [""] * (per_class - 1)
    per_row = 2 if len(shown) > 4 else 1
    note = (
        f"showing {len(shown)} of {len(class_names)} classes"
        if len(shown) < len(class_names)
        else ""
    )
    x = torch.stack(images) if images else split.x[:0]
    return Tiles(x, titles, per_class * per_row, note)


def class_counts(dataset: ImageDataset) -> dict[str, list[int]]:
    """Images per class in each split: {"train": [...], "val": [...], "test": [...]}."""
    k = dataset.num_classes
    splits = {"train": dataset.train, "val": dataset.val, "test": dataset.test}
    return {name: torch.bincount(s.y, minlength=k).tolist() for name, s in splits.items()}


def dataset_facts(dataset: ImageDataset) -> list[tuple[str, str, str | None]]:
    """(title, value, help) of the four numbers shown above a dataset."""
    c, h, w = dataset.input_shape
    total = len(dataset.train) + len(dataset.val) + len(dataset.test)
    return [
        ("Classes", str(dataset.num_classes), None),
        ("Image size", f"{h}×{w}", None),
        ("Channels", str(c), "3 = colour (RGB), 1 = greyscale"),
        ("Images", f"{total:,}", None),
    ]


def split_caption(dataset: ImageDataset) -> str:
    """'Split: **N** train · ... Source: ...' as Markdown (a user folder or upload shows its name
    only, escaped)."""
    source = Path(dataset.source).name if dataset.name == "folder" else dataset.source
    return (
        f"Split: **{len(dataset.train):,}** train · **{len(dataset.val):,}** validation · "
        f"**{len(dataset.test):,}** test. Source: {md_escape(source)}."
    )


def augment_examples(
    split: DataSplit, cfg: AugmentConfig, rows: int = 4, copies: int = 7, seed: int = 0
) -> Tiles:
    """One image from each of the first `rows` classes, then `copies` random augmentations of it."""
    picks = [int(torch.nonzero(split.y == k).flatten()[0]) for k in split.y.unique()[:rows]]
    out = augment_preview(split.x[picks], cfg, copies=copies, seed=seed)  # (N, copies + 1, C, H, W)
    titles = ["original"] + [f"random {i}" for i in range(1, copies + 1)]
    titles += [""] * (copies + 1) * (len(picks) - 1)
    return Tiles(out.flatten(0, 1), titles, copies + 1)


# -- the hero picture of the Home page --------------------------------------------------------------


def mosaic(x: torch.Tensor, cols: int, scale: int, gap: int = 4) -> PIL.Image.Image:
    """uint8 (N, C, H, W) -> one RGB picture: `cols` images a row, each enlarged `scale` times
    (nearest neighbour), `gap` white pixels between them."""
    n, c, h, w = x.shape
    rows = -(-n // cols)
    side_h, side_w = h * scale + gap, w * scale + gap
    canvas = np.full((rows * side_h - gap, cols * side_w - gap, 3), 255, dtype=np.uint8)
    for i, image in enumerate(x.numpy()):
        tile = image.transpose(1, 2, 0).repeat(scale, 0).repeat(scale, 1)  # (H', W', C)
        r, col = divmod(i, cols)
        canvas[r * side_h : r * side_h + h * scale, col * side_w : col * side_w + w * scale] = tile
    return PIL.Image.fromarray(canvas)


def hero_picture(dataset: ImageDataset, rows: int = 3, cols: int = 8) -> PIL.Image.Image:
    """A mosaic of training images, classes interleaved, for the Home page."""
    per_class = -(-rows * cols // dataset.num_classes)
    picks = [
        torch.nonzero(dataset.train.y == k).flatten()[:per_class]
        for k in range(dataset.num_classes)
    ]
    order = torch.stack(picks, 1).flatten()[: rows * cols]  # class 0, 1, ..., K-1, 0, 1, ...
    return mosaic(dataset.train.x[order], cols, scale=3)


if __name__ == "__main__":  # regenerate assets/hero.png
    from cnnlab.config import DataConfig
    from cnnlab.data import load_dataset

    target = Path(__file__).resolve().parent.parent / "assets" / "hero.png"
    hero_picture(load_dataset(DataConfig(name="shapes", seed=3))).save(target, optimize=True)
    print(f"wrote {target} ({target.stat().st_size / 1024:.0f} KB)")
