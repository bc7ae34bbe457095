"""What Inspect computes for one (run, image), cached so a slider move redraws from memory.

Keys are the run id, its weights version and a digest of the image's bytes (a test image or an
upload alike); the image and the model themselves are passed unhashed (leading underscore).
A rerun that only moves the opacity slider or the channel count reuses the feature maps, the
Grad-CAM maps and every layer's grid.
"""

from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from cnnlab import plots
from cnnlab.explain import feature_maps, first_layer_filters, grad_cam
from pages.ui import common


def image_key(x: torch.Tensor) -> str:
    """A digest of a uint8 (C, H, W) image: equal pixels, equal key."""
    pixels = torch.as_tensor(x).contiguous().numpy()
    return hashlib.blake2b(
        pixels.tobytes() + str(pixels.shape).encode(), digest_size=16
    ).hexdigest()


@st.cache_data(show_spinner=False, max_entries=32)
def layer_maps(
    run_id: str, version: float, key: str, _x: torch.Tensor
) -> list[tuple[str, torch.Tensor]]:
    """`feature_maps` of the image: [(conv name, float (C', H', W'))] in forward order."""
    return feature_maps(common.loaded_model(run_id).model, _x)


@st.cache_data(show_spinner=False, max_entries=128)
def heat_map(
    run_id: str, version: float, key: str, target: int, layer: str, _x: torch.Tensor
) -> np.ndarray:
    """`grad_cam` (H, W) in [0, 1] of class `target` at `layer`."""
    return grad_cam(common.loaded_model(run_id).model, _x, target, layer=layer)


@st.cache_data(show_spinner=False, max_entries=512)
def maps_figure(
    run_id: str, version: float, key: str, layer: str, channels: int, _maps: torch.Tensor
) -> go.Figure:
    """The tile grid of one layer's first `channels` feature maps (one picture)."""
    return plots.feature_map_grid(_maps, max_maps=channels)


@st.cache_data(show_spinner=False, max_entries=16)
def filters_figure(run_id: str, version: float) -> go.Figure:
    """The first conv layer's kernels as one tile grid (the same for every image)."""
    return plots.filter_grid(first_layer_filters(common.loaded_model(run_id).model), cols=16)
