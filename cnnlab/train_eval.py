"""Loss and accuracy of a model on a split, in batches (the runs' validation and test figures)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.device import autocast
from cnnlab.train_step import to_input


@torch.inference_mode()
def evaluate_split(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    channels_last: bool = False,
    precision: str = "fp32",
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` on uint8 images `x` (N,C,H,W), labels `y` (N,).

    `precision` is a resolved one (see `resolve_precision`)."""
    loss, acc, _ = evaluate_classes(model, x, y, batch_size, device, channels_last, precision)
    return loss, acc


@torch.inference_mode()
def evaluate_classes(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    channels_last: bool = False,
    precision: str = "fp32",
) -> tuple[float, float, tuple[float | None, ...]]:
    """`evaluate_split`'s loss and accuracy, and the accuracy of each class (index = class, the
    share of its images predicted right = its recall; None for a class without images), counted
    from the same predictions (two bincounts per batch)."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    hits = seen = None  # (K,) correct predictions and images per true class
    for start in range(0, len(x), batch_size):
        xb = to_input(x[start : start + batch_size], device, channels_last)
        yb = y[start : start + batch_size].to(device)
        with autocast(device, precision):
            logits = model(xb).float()  # (B, K)
        total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
        right = logits.argmax(1) == yb
        correct += right.sum().item()
        k = logits.shape[1]
        batch_seen = torch.bincount(yb, minlength=k)
        batch_hits = torch.bincount(yb[right], minlength=k)
        hits = batch_hits if hits is None else hits + batch_hits
        seen = batch_seen if seen is None else seen + batch_seen
    model.train(was_training)
    n = max(1, len(x))
    per_class: tuple[float | None, ...] = ()
    if seen is not None:
        per_class = tuple(
            h / s if s else None for h, s in zip(hits.tolist(), seen.tolist(), strict=True)
        )
    return total_loss / n, correct / n, per_class
