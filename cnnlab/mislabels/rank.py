"""Rank training images by how likely their given label is wrong (confident learning, cleanlab).

`cleanlab.rank.get_label_quality_scores` scores each image's given label from its out-of-sample
probabilities (low = suspect; the order of the gallery), and `cleanlab.filter.find_label_issues`
decides how many are likely wrong: it estimates the joint distribution of given and true labels
with per-class confidence thresholds (Northcutt et al., "Confident Learning", 2021), so a hard
class is not flagged wholesale just because its probabilities are lower.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnnlab.mislabels.crossval import OutOfSample

RANK_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
DEFAULT_METHOD = "self_confidence"  # measured best on digits with 5% flipped (bench_mislabels)


@dataclass(frozen=True)
class Suspects:
    """Every training image ranked, most suspect first (`table` row 0)."""

    # rank, index, given, predicted (names), given_prob, predicted_prob (out-of-sample, 0..1),
    # quality (cleanlab's score, low = suspect), given_class, predicted_class, flagged (bool)
    table: pd.DataFrame
    flagged: int  # how many cleanlab's filter calls likely mislabelled
    accuracy: float  # out-of-sample accuracy of the cross-trained models, 0..1
    method: str  # the label-quality score used for the order

    def top(self, n: int) -> pd.DataFrame:
        return self.table.head(max(0, n))


def label_quality(oos: OutOfSample, method: str = DEFAULT_METHOD) -> np.ndarray:
    """(N,) cleanlab's label-quality score in [0, 1] per image (low = likely mislabelled)."""
    from cleanlab.rank import get_label_quality_scores

    if method not in RANK_METHODS:
        raise ValueError(f"unknown ranking {method!r}; known: {', '.join(RANK_METHODS)}")
    return np.asarray(get_label_quality_scores(oos.labels, _normalised(oos.probs), method=method))


def flag_issues(oos: OutOfSample) -> np.ndarray:
    """(N,) bool: cleanlab's `find_label_issues` (prune by noise rate). A set where it cannot
    run (a class absent from the labels) flags the images whose prediction differs instead."""
    from cleanlab.filter import find_label_issues

    probs = _normalised(oos.probs)
    if len(np.unique(oos.labels)) < probs.shape[1]:
        return probs.argmax(1) != oos.labels
    with warnings.catch_warnings():  # cleanlab warns about tiny classes; the result stands
        warnings.simplefilter("ignore")
        mask = find_label_issues(oos.labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    return np.asarray(mask, dtype=bool)


def rank_suspects(
    oos: OutOfSample, class_names: list[str], method: str = DEFAULT_METHOD
) -> Suspects:
    """Every training image, ranked by `label_quality` (ties: lower given-label probability)."""
    quality = label_quality(oos, method)
    flagged = flag_issues(oos)
    n = len(oos.labels)
    given_prob = oos.probs[np.arange(n), oos.labels]
    predicted = oos.probs.argmax(1)
    order = np.lexsort((given_prob, quality))  # primary key last
    names = np.asarray(class_names, dtype=object)
    table = pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "index": order,  # position in the run's (patched) train split
            "given": names[oos.labels[order]],
            "predicted": names[predicted[order]],
            "given_prob": given_prob[order].astype(float),
            "predicted_prob": oos.probs[order, predicted[order]].astype(float),
            "quality": quality[order].astype(float),
            "given_class": oos.labels[order],  # class indices of the two labels
            "predicted_class": predicted[order],
            "flagged": flagged[order],
        }
    )
    return Suspects(table, int(flagged.sum()), oos.accuracy, method)


def recall_at(suspects: Suspects, truly_wrong: np.ndarray, k: int | None = None) -> float:
    """Share of the images in `truly_wrong` (positions) found in the top `k` (default: as many
    as there are); the measure of the issue's test."""
    wrong = set(int(i) for i in truly_wrong)
    if not wrong:
        return 1.0
    top = set(int(i) for i in suspects.table["index"].head(k or len(wrong)))
    return len(wrong & top) / len(wrong)


def _normalised(probs: np.ndarray) -> np.ndarray:
    """Rows summing to 1 in float64 (float32 softmax rows may be off by 1e-7; cleanlab checks)."""
    p = np.clip(probs.astype(np.float64), 1e-12, None)
    return p / p.sum(1, keepdims=True)
