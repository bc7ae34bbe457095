"""Embedding points in 2-D: PCA per snapshot, aligned across snapshots, t-SNE on demand.

`pca_2d` is plain PCA (centred SVD, the same as `sklearn.decomposition.PCA(2)` up to the sign of
each axis). Each snapshot is projected on its own, so its plane is the best 2-D view of that
epoch's features; `align` then turns each frame (rotation or reflection, and one scale: distances
keep their ratios) to sit as close as it can to the one before, so an animation over epochs moves
the points instead of flipping or spinning the picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float (N, D) -> (coordinates float32 (N, 2), explained variance ratio float32 (2,)).

    Fewer than 2 dimensions or points pad with zeros. Each axis's sign makes its largest loading
    positive (deterministic, as scikit-learn's `svd_flip` does on the components)."""
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    coords = np.zeros((n, 2), dtype=np.float32)
    ratio = np.zeros(2, dtype=np.float32)
    if n < 2 or x.ndim != 2 or x.shape[1] == 0:
        return coords, ratio
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (r, D)
    k = min(2, len(s))
    vt = vt[:k]
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    coords[:, :k] = centred @ vt.T
    total = float((s**2).sum())
    if total > 0:
        ratio[:k] = (s[:k] ** 2) / total
    return coords, ratio


def normalise(coords: np.ndarray) -> np.ndarray:
    """Centred, scaled to unit root-mean-square distance from the centre (float32 (N, 2))."""
    c = np.asarray(coords, dtype=np.float64)
    c = c - c.mean(axis=0)
    rms = np.sqrt((c**2).sum(axis=1).mean()) if len(c) else 0.0
    return (c / rms if rms > 0 else c).astype(np.float32)


def procrustes_turn(moving: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal 2x2 R minimising ||moving @ R - target|| (both centred (N, 2))."""
    u, _, vt = np.linalg.svd(moving.T @ target)
    return u @ vt


def align(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each frame (N, 2) normalised, then turned onto the previous (already aligned) frame.
    Frames of different lengths (another plan) start a new chain."""
    aligned: list[np.ndarray] = []
    for coords in frames:
        c = normalise(coords)
        previous = aligned[-1] if aligned else None
        if previous is not None and previous.shape == c.shape and len(c) >= 2:
            c = (c @ procrustes_turn(c, previous)).astype(np.float32)
        aligned.append(c)
    return aligned


def tsne_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE of float (N, D) features to float32 (N, 2) (scikit-learn; PCA start, perplexity
    at most 30 and below N/3 for small sets). Takes seconds for a few hundred points."""
    from sklearn.manifold import TSNE  # lazy: only the button that asks for it pays the import

    x = np.asarray(features, dtype=np.float32)
    if len(x) < 5:
        raise ValueError(f"t-SNE needs at least 5 points, this run kept {len(x)}")
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500)
    return normalise(tsne.fit_transform(x))
