"""Small images made ready for the screen: sharp enlargements, Grad-CAM pictures, data URIs.

Models here see tiny inputs (8x8 to 32x32 pixels); browsers blur small images when they scale them
up, so the pages enlarge them first by an integer factor (nearest neighbour). No streamlit here.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import PIL.Image
import plotly.graph_objects as go
import torch

from cnnlab.data.images import tensor_to_pil
from cnnlab.explain import overlay


def enlarge(x: torch.Tensor | PIL.Image.Image, side: int = 160) -> PIL.Image.Image:
    """A small uint8 (C, H, W) image (or PIL image) enlarged by an integer factor (nearest
    neighbour, so pixels stay sharp) until its longer side is at least `side` pixels."""
    img = tensor_to_pil(x) if isinstance(x, torch.Tensor) else x
    factor = max(1, -(-side // max(img.size)))  # ceil(side / longer side)
    if factor == 1:
        return img
    return img.resize((img.width * factor, img.height * factor), PIL.Image.Resampling.NEAREST)


def cam_picture(
    x: torch.Tensor, heat: np.ndarray, alpha: float, side: int = 192
) -> PIL.Image.Image:
    """Grad-CAM `heat` (H, W) in [0, 1] over uint8 image x (C, H, W), enlarged to about `side`
    pixels: image pixels stay sharp (nearest), the heat map is smoothed (bilinear)."""
    pixels = torch.as_tensor(x).numpy()  # (C, H, W)
    factor = max(1, -(-side // max(pixels.shape[1:])))
    big = pixels.repeat(factor, axis=1).repeat(factor, axis=2)  # (C, H * f, W * f)
    return overlay(big, heat, alpha)


def image_uri(x: torch.Tensor, side: int = 48) -> str:
    """A uint8 (C, H, W) image enlarged to about `side` pixels as a PNG data URI (for
    `st.column_config.ImageColumn`)."""
    buffer = io.BytesIO()
    enlarge(x, side).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def clickable_cells(fig: go.Figure) -> go.Figure:
    """Make each cell of a heat map figure (`plots.confusion_heatmap`) a clickable point.

    Streamlit's `on_select` reports no points for clicks on a go.Heatmap, so an invisible scatter
    point sits at every cell centre and takes over the heat map's hover text; with
    `hoverdistance=-1` the nearest centre (the cell under the pointer) is always the one hovered
    and clicked. Selected points come back with x = column (predicted), y = row (true) names.
    """
    heat = fig.data[0]
    xs, ys = np.meshgrid(list(heat.x), list(heat.y))  # (K, K) column and row names per cell
    custom = np.asarray(heat.customdata)
    fig.add_trace(
        go.Scatter(
            x=xs.ravel(),
            y=ys.ravel(),
            mode="markers",
            marker=dict(size=20, opacity=0, symbol="square"),
            customdata=custom.reshape(-1, custom.shape[-1]) if custom.ndim == 3 else None,
            hovertemplate=heat.hovertemplate,
            showlegend=False,
        )
    )
    heat.hoverinfo, heat.hovertemplate = "skip", None
    fig.update_layout(hoverdistance=-1, clickmode="event+select")
    return fig


def grid_upscale(side: int, target: int = 64) -> int:
    """`upscale_to` for `plots.image_grid`: enlarge images smaller than `target` pixels, else 0."""
    return target if side < target else 0
