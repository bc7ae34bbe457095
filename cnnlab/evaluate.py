"""Evaluation of a trained classifier on a data split: metrics, confusion matrix, worst mistakes.

The confusion matrix and the per-class scores are scikit-learn's (`sklearn.metrics`); classes that
are never predicted get precision 0 (`zero_division=0`). Losses are exact (log-softmax, float64).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn import metrics
from torch import nn

from cnnlab.inference import predict_log_probs


def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Softmax probabilities float32 (N, K) for uint8 images `x` (N, C, H, W).

    Runs in eval mode under `torch.inference_mode` and restores the model's train/eval mode.
    """
    return predict_log_probs(model, x, batch_size).exp().numpy()


@dataclass(frozen=True, eq=False)
class EvalReport:
    accuracy: float  # share of correct predictions, 0..1
    loss: float  # mean cross-entropy, nats
    per_class: pd.DataFrame  # class, precision, recall, f1, support; + "macro avg", "weighted avg"
    confusion: np.ndarray  # int64 (K, K), rows = true class, columns = predicted class
    probs: np.ndarray  # float32 (N, K) softmax probabilities
    preds: np.ndarray  # int64 (N,) argmax of probs
    labels: np.ndarray  # int64 (N,) true classes
    class_names: list[str]
    losses: np.ndarray | None = None  # float64 (N,) cross-entropy per sample, nats (exact)

    def confusion_normalized(self) -> np.ndarray:
        """float64 (K, K): each row divided by its support (rows with no samples stay 0)."""
        support = self.confusion.sum(axis=1, keepdims=True)  # (K, 1)
        return self.confusion / np.maximum(support, 1)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 (K, K) counts with rows = true class, columns = predicted class (scikit-learn's)."""
    if not len(labels):  # scikit-learn refuses empty input; nothing was counted
        return np.zeros((num_classes, num_classes), dtype=np.int64)
    with warnings.catch_warnings():  # it warns on a 1x1 matrix even when given all labels
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
        matrix = metrics.confusion_matrix(labels, preds, labels=np.arange(num_classes))
    return matrix.astype(np.int64)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0 where den == 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def per_class_table(labels: np.ndarray, preds: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class plus macro and support-weighted averages
    (scikit-learn's `precision_recall_fscore_support`, `zero_division=0`: a class never predicted
    or never present scores 0 instead of a warning and NaN)."""
    k = len(class_names)
    if not len(labels):
        zeros = np.zeros(k)
        per_class, averages = (zeros, zeros, zeros, np.zeros(k, dtype=np.int64)), [(0.0,) * 3] * 2
    else:
        score = partial(
            metrics.precision_recall_fscore_support,
            labels,
            preds,
            labels=np.arange(k),
            zero_division=0,
        )
        per_class = score(average=None)  # (precision, recall, f1, support), each (K,)
        averages = [score(average=kind)[:3] for kind in ("macro", "weighted")]
    total = int(np.sum(per_class[3]))
    rows = {"class": [*class_names, "macro avg", "weighted avg"]}
    for i, column in enumerate(("precision", "recall", "f1")):
        rows[column] = [*np.asarray(per_class[i], dtype=np.float64), *(a[i] for a in averages)]
    table = pd.DataFrame({**rows, "support": [*per_class[3].tolist(), total, total]})
    table["support"] = table["support"].astype(np.int64)
    return table


def evaluate(
    model: nn.Module, split: Any, class_names: list[str], batch_size: int = 1024
) -> EvalReport:
    """Predict every image of `split` (`.x` uint8 (N, C, H, W), `.y` int64 (N,)) and score it."""
    log_probs = predict_log_probs(model, split.x, batch_size)  # (N, K)
    labels = torch.as_tensor(split.y).to(torch.int64).cpu()  # (N,)
    num_classes = len(class_names)
    if log_probs.shape[1] != num_classes:
        raise ValueError(
            f"the model outputs {log_probs.shape[1]} classes but {num_classes} class names were given"
        )
    if len(labels) != len(log_probs):
        raise ValueError(f"{len(log_probs)} images but {len(labels)} labels")
    n = len(labels)
    losses = F.nll_loss(log_probs.double(), labels, reduction="none")  # (N,) float64
    loss = losses.mean().item() if n else float("nan")
    probs = log_probs.exp().numpy()  # (N, K) float32
    preds = log_probs.argmax(dim=1).numpy().astype(np.int64)  # (N,)
    labels_np = labels.numpy()
    confusion = confusion_matrix(labels_np, preds, num_classes)
    return EvalReport(
        accuracy=float((preds == labels_np).mean()) if n else float("nan"),
        loss=loss,
        per_class=per_class_table(labels_np, preds, list(class_names)),
        confusion=confusion,
        probs=probs,
        preds=preds,
        labels=labels_np,
        class_names=list(class_names),
        losses=losses.numpy(),
    )


def most_confused(report: EvalReport, k: int = 10) -> pd.DataFrame:
    """The k largest off-diagonal cells: columns true, predicted, count, share_of_true (0..1)."""
    confusion = report.confusion
    support = confusion.sum(axis=1)  # (K,)
    true_idx, pred_idx = np.nonzero(confusion * (1 - np.eye(len(confusion), dtype=np.int64)))
    counts = confusion[true_idx, pred_idx]
    # Largest count first; ties broken by true class, then predicted class (stable, deterministic).
    order = np.lexsort((pred_idx, true_idx, -counts))[:k]
    names = np.asarray(report.class_names, dtype=object)
    return pd.DataFrame(
        {
            "true": names[true_idx[order]],
            "predicted": names[pred_idx[order]],
            "count": counts[order].astype(np.int64),
            "share_of_true": _divide(counts[order], support[true_idx[order]]),
        }
    )


def sample_losses(report: EvalReport) -> np.ndarray:
    """Cross-entropy of each sample, float64 (N,) (from the probabilities when not stored)."""
    if report.losses is not None:
        return report.losses
    p_true = report.probs[np.arange(len(report.labels)), report.labels].astype(np.float64)
    return -np.log(np.maximum(p_true, np.finfo(np.float32).tiny))  # capped at ~87 nats


def highest_loss(report: EvalReport, k: int = 16) -> pd.DataFrame:
    """The k samples with the largest loss: index (in the split), true, predicted, confidence, loss.

    `confidence` is the probability the model gave to its predicted class.
    """
    losses = sample_losses(report)  # (N,)
    order = np.argsort(-losses, kind="stable")[:k]
    names = np.asarray(report.class_names, dtype=object)
    return pd.DataFrame(
        {
            "index": order.astype(np.int64),
            "true": names[report.labels[order]],
            "predicted": names[report.preds[order]],
            "confidence": report.probs[order, report.preds[order]].astype(np.float64),
            "loss": losses[order],
        }
    )


def cell_indices(report: EvalReport, true_class: int, pred_class: int) -> np.ndarray:
    """Split indices int64 of samples of `true_class` predicted as `pred_class`, most confident first."""
    idx = np.flatnonzero((report.labels == true_class) & (report.preds == pred_class))
    confidence = report.probs[idx, pred_class]
    return idx[np.argsort(-confidence, kind="stable")].astype(np.int64)


def misclassified(report: EvalReport) -> np.ndarray:
    """Split indices int64 of every wrong prediction, the most confident mistakes first."""
    idx = np.flatnonzero(report.labels != report.preds)
    confidence = report.probs[idx, report.preds[idx]]
    return idx[np.argsort(-confidence, kind="stable")].astype(np.int64)
