"""Small images made ready for the screen: sharp enlargements, Grad-CAM pictures, data URIs.

Models here see tiny inputs (8x8 to 32x32 pixels); browsers blur small images when they scale them
up, so the pages enlarge them first by an integer factor (nearest neighbour). No streamlit here.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import PIL.Image
import torch

from cnnlab.explain import overlay
from cnnlab.images import tensor_to_pil


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
