"""Evaluate's image galleries: tiles of test images, each with a button that opens it in Inspect,
and the Grad-CAM thumbnails of the highest-loss images (one batch, cached per run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import PIL.Image
import streamlit as st
import torch

from cnnlab.display import cam_picture, enlarge
from cnnlab.explain import default_cam_layer, feature_maps, grad_cam_batch
from cnnlab.text import md_escape
from pages.ui import common
from pages.ui.inspect_link import open_in_inspect

THUMB = 64  # pixels: small test images are enlarged (nearest neighbour) to about this
GAP = 4  # pixels between an image and its Grad-CAM in one tile


@dataclass(frozen=True)
class Tile:
    index: int  # position in the run's test split
    picture: PIL.Image.Image
    caption: str


@st.cache_data(show_spinner="Grad-CAM of the highest-loss images…", max_entries=16)
def grad_cams(run_id: str, version: float, indices: tuple[int, ...], targets: tuple[int, ...]):
    """(layer, float32 (N, H, W)): Grad-CAM maps of test images `indices` for classes `targets`
    in one batch, at Inspect's default layer; `version` (the weights file's) only keys the cache."""
    loaded = common.loaded_model(run_id)
    images = common.dataset_for(loaded.config.data).test.x[list(indices)]  # (N, C, H, W)
    layer = default_cam_layer(feature_maps(loaded.model, images[0]))
    return layer, grad_cam_batch(loaded.model, images, list(targets), layer)


def with_cam(x: torch.Tensor, heat: np.ndarray) -> PIL.Image.Image:
    """The image and its Grad-CAM overlay side by side, GAP white pixels apart."""
    image = np.asarray(enlarge(x, THUMB).convert("RGB"))
    cam = np.asarray(cam_picture(x, heat, 0.5, THUMB).resize(image.shape[1::-1]))
    gap = np.full((image.shape[0], GAP, 3), 255, dtype=np.uint8)
    return PIL.Image.fromarray(np.concatenate([image, gap, cam], axis=1))


def plain_tiles(
    test_x: torch.Tensor, indices: Sequence[int], captions: Sequence[str]
) -> list[Tile]:
    return [
        Tile(int(i), enlarge(test_x[int(i)], THUMB), text)
        for i, text in zip(indices, captions, strict=True)
    ]


def loss_tiles(test_x: torch.Tensor, worst: pd.DataFrame, heats: np.ndarray) -> list[Tile]:
    """Tiles of `evaluate.highest_loss` rows, each image beside its Grad-CAM map heats[i]."""
    return [
        Tile(
            int(row["index"]),
            with_cam(test_x[int(row["index"])], heat),
            f"{row['true']} → {row['predicted']} ({row['confidence']:.0%}), loss {row['loss']:.2f}",
        )
        for row, heat in zip(worst.to_dict("records"), heats, strict=True)
    ]


def show_tiles(run_id: str, tiles: Sequence[Tile], cols: int, key: str) -> None:
    """Tiles in rows of `cols`; each one's "#index" button opens that test image in Inspect."""
    for start in range(0, len(tiles), cols):
        for column, tile in zip(st.columns(cols), tiles[start : start + cols], strict=False):
            with column:
                st.image(tile.picture, caption=md_escape(tile.caption))  # class names: text
                look = dict(icon=":material/visibility:", type="tertiary", help="Open in Inspect")
                if st.button(f"#{tile.index}", key=f"{key}_{tile.index}", **look):
                    open_in_inspect(run_id, tile.index)
