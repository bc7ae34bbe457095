"""Lesson 3, pooling: max or average over windows, as `torch.nn.functional.max_pool2d` /
`avg_pool2d` without padding."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pool2d(
    x: np.ndarray, kind: str = "max", size: int = 2, stride: int | None = None
) -> np.ndarray:
    """Max or average of each size x size window (no padding, partial windows dropped):
    (H, W) -> (H', W') with H' = floor((H - size) / stride) + 1. stride defaults to size."""
    stride = size if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    if size > min(x.shape):
        raise ValueError(
            f"a {size}x{size} pooling window does not fit in a {x.shape[0]}x{x.shape[1]} map"
        )
    windows = sliding_window_view(x, (size, size))[::stride, ::stride]  # (H', W', size, size)
    if kind == "max":
        return windows.max(axis=(2, 3))
    if kind == "avg":
        return windows.mean(axis=(2, 3))
    raise ValueError(f"pooling kind must be 'max' or 'avg', got {kind!r}")
