"""Calibration of a classifier's confidence: the reliability diagram and expected calibration error.

Confidence is the probability given to the predicted class. The images are put in `bins`
equal-width confidence bins over [0, 1] (bin b holds confidences in (b/B, (b+1)/B], the first
also holds 0); a calibrated model's accuracy in each bin equals its mean confidence there.
ECE = sum over bins of (images in bin / N) * |accuracy - mean confidence| (Guo et al. 2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 10  # equal-width confidence bins of the reliability diagram and the ECE


@dataclass(frozen=True)
class Reliability:
    """The reliability diagram's bins and the summary numbers (all shares in 0..1)."""

    edges: np.ndarray  # float64 (B + 1,) bin edges, 0 .. 1
    counts: np.ndarray  # int64 (B,) images per bin
    confidence: np.ndarray  # float64 (B,) mean confidence per bin (NaN where empty)
    accuracy: np.ndarray  # float64 (B,) accuracy per bin (NaN where empty)
    ece: float  # expected calibration error, 0..1 (NaN without images)
    mean_confidence: float  # over all images
    accuracy_all: float  # over all images

    @property
    def gap(self) -> float:
        """Mean confidence minus accuracy: > 0 overconfident, < 0 underconfident."""
        return self.mean_confidence - self.accuracy_all


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    """The reliability of probabilities `probs` float (N, K) for true classes `labels` int (N,)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    if not len(labels):
        empty = np.full(bins, np.nan)
        return Reliability(edges, np.zeros(bins, np.int64), empty, empty, *(float("nan"),) * 3)
    confidence = probs.max(axis=1)  # (N,)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)  # (N,)
    # right-closed bins: (lo, hi]; a confidence of exactly 0 falls in the first bin
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)  # (N,)
    counts = np.bincount(which, minlength=bins).astype(np.int64)
    sums_conf = np.bincount(which, weights=confidence, minlength=bins)
    sums_acc = np.bincount(which, weights=correct, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, sums_conf / counts, np.nan)
        mean_acc = np.where(counts > 0, sums_acc / counts, np.nan)
    weights = counts / len(labels)
    ece = float(np.nansum(weights * np.abs(mean_acc - mean_conf)))
    return Reliability(
        edges=edges,
        counts=counts,
        confidence=mean_conf,
        accuracy=mean_acc,
        ece=ece,
        mean_confidence=float(confidence.mean()),
        accuracy_all=float(correct.mean()),
    )
