"""What a run's measurements say: small rules over its curves, classes and calibration.

Each rule takes plain numbers (so tests feed it constructed curves), returns a `Finding` or None,
and states the measurement that fired it and a next step tied to that measurement. The
thresholds are named below with the reason for each value; they are rules of thumb for the
small image classifiers of this lab, not laws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# A validation loss this much above its minimum (relative) at the last epoch means it turned:
# 5% is beyond the epoch-to-epoch noise of a validation split of a few hundred images.
TURN_MIN_RISE = 0.05
# Training minus validation accuracy (0..1) at the last epoch above this = overfitting. Training
# accuracy is measured with augmentation and dropout on, which lowers it: 10 points is a real gap.
OVERFIT_GAP = 0.10
# Validation loss above LOSS_GAP_RATIO x the training loss (and LOSS_GAP_MIN nats above it) at
# the last epoch = memorising: with augmentation or dropout on, training loss is usually higher.
LOSS_GAP_RATIO = 3.0
LOSS_GAP_MIN = 0.2
# A final training accuracy below this with no gap = the model does not fit its training images.
UNDERFIT_TRAIN_ACC = 0.90
# A last-epoch validation loss this much (relative) below every earlier one = not done learning
# (5%, as TURN_MIN_RISE: beyond the epoch-to-epoch noise of a small validation split).
STILL_IMPROVING = 0.05
# A batch loss above SPIKE_FACTOR x the median of the SPIKE_WINDOW batches before it is a spike.
SPIKE_FACTOR = 2.0
SPIKE_WINDOW = 20  # batch events (not steps: batch events are rate-limited)
SPIKES_MIN = 2  # one spike can be an odd batch; two or more point at the learning rate
# Epoch training loss above the previous epoch's by this much (relative): the steps overshoot.
TRAIN_RISE = 0.10
# Test accuracy within this many points (0..1) of guessing (1 / classes) = nothing was learned.
CHANCE_MARGIN = 0.05
# Expected calibration error (0..1) above this: the confidences cannot be read as probabilities.
ECE_HIGH = 0.05
# A class whose F1 is this far below the macro F1 is weak; at most WEAKEST_K are named.
WEAK_F1_MARGIN = 0.05
WEAKEST_K = 3

SEVERITIES = ("bad", "warn", "info", "good")  # order of the findings in the report


@dataclass(frozen=True)
class Finding:
    """One observation: what was measured and what to try because of it."""

    rule: str  # e.g. "val_loss_turn", "divergence" (stable names: tests and anchors use them)
    severity: str  # one of SEVERITIES
    title: str  # a few words
    text: str  # the measurement, one or two sentences with the numbers
    step: str = ""  # the next step tied to that measurement ("" = none)
    epoch: int | None = None  # the epoch it points at, when there is one
    subject: str = ""  # the class it is about (weak classes), else ""


@dataclass(frozen=True)
class Curves:
    """Per-epoch curves (index i = epoch epochs[i]); None = not measured or not finite."""

    epochs: list[int]
    train_loss: list[float | None]
    val_loss: list[float | None]
    train_acc: list[float | None]
    val_acc: list[float | None]
    batch_loss: list[float | None] = field(default_factory=list)  # batch events, in order
    batch_epoch: list[int] = field(default_factory=list)  # the epoch of each batch event
    partial: list[bool] = field(default_factory=list)  # per epoch: stopped inside it


def _finite(values: Sequence[float | None]) -> list[tuple[int, float]]:
    return [(i, float(v)) for i, v in enumerate(values) if v is not None and math.isfinite(v)]


def divergence(status: str, curves: Curves, lr: float) -> Finding | None:
    """The loss became NaN/inf (the run diverged): the learning rate was too high."""
    bad_batch = [i for i, v in enumerate(curves.batch_loss) if v is None or not math.isfinite(v)]
    if status != "diverged" and not bad_batch:
        return None
    epoch = curves.batch_epoch[bad_batch[0]] if bad_batch else len(curves.epochs) + 1
    return Finding(
        "divergence",
        "bad",
        "Learning rate too high: the loss diverged",
        f"The training loss became NaN or infinite in epoch {epoch} at learning rate {lr:g}.",
        f"Lower the learning rate about 10x (lr {lr:g} → {lr / 10:g}), or use a schedule "
        "with warm-up (onecycle) or batch-norm layers.",
        epoch,
    )


def loss_spikes(curves: Curves, lr: float) -> Finding | None:
    """Batch losses that jump far above their recent median: steps that overshoot."""
    losses = np.array([np.nan if v is None else v for v in curves.batch_loss], dtype=np.float64)
    spikes = []
    for i in range(SPIKE_WINDOW, len(losses)):
        window = losses[i - SPIKE_WINDOW : i]
        median = np.nanmedian(window) if np.isfinite(window).any() else np.nan
        if np.isfinite(losses[i]) and np.isfinite(median) and losses[i] > SPIKE_FACTOR * median:
            spikes.append(i)
    if len(spikes) < SPIKES_MIN:
        return None
    first = spikes[0]
    epoch = curves.batch_epoch[first] if first < len(curves.batch_epoch) else None
    return Finding(
        "loss_spikes",
        "warn",
        "Learning rate may be too high: loss spikes",
        f"{len(spikes)} batch losses jumped above {SPIKE_FACTOR:g}x the median of the "
        f"{SPIKE_WINDOW} batches before them (the first in epoch {epoch}).",
        f"Try a lower learning rate (lr {lr:g} → {lr / 3:.3g}) or a larger batch.",
        epoch,
    )


def train_loss_rises(curves: Curves, lr: float) -> Finding | None:
    """An epoch whose training loss is clearly above the previous one's."""
    points = _finite(curves.train_loss)
    for (_, before), (i, after) in zip(points, points[1:], strict=False):
        if after > before * (1 + TRAIN_RISE):
            epoch = curves.epochs[i]
            return Finding(
                "train_loss_rises",
                "warn",
                "Learning rate may be too high: training loss rose",
                f"The training loss rose from {before:.3f} to {after:.3f} at epoch {epoch}.",
                f"Lower the learning rate (lr {lr:g} → {lr / 3:.3g}) or decay it sooner.",
                epoch,
            )
    return None


def val_loss_turn(curves: Curves) -> Finding | None:
    """Validation loss reached its minimum and rose after it while training loss kept falling."""
    val = _finite(curves.val_loss)
    if len(val) < 2:
        return None
    best_i, best = min(val, key=lambda p: p[1])
    last_i, last = val[-1]
    train = dict(_finite(curves.train_loss))
    if best_i == last_i or last <= best * (1 + TURN_MIN_RISE):
        return None
    if best_i not in train or last_i not in train or train[last_i] >= train[best_i]:
        return None
    epoch, last_epoch = curves.epochs[best_i], curves.epochs[last_i]
    return Finding(
        "val_loss_turn",
        "warn",
        f"Overfitting: validation loss turned after epoch {epoch}",
        f"Validation loss rose after epoch {epoch} ({best:.3f} → {last:.3f} at epoch "
        f"{last_epoch}) while training loss fell ({train[best_i]:.3f} → {train[last_i]:.3f}).",
        f"Try early stopping at epoch {epoch} (train.early_stopping = 2) or stronger "
        "augmentation / weight decay. The kept weights are already epoch "
        f"{epoch}'s (best validation loss).",
        epoch,
    )


def accuracy_gap(curves: Curves) -> Finding | None:
    """Training accuracy well above validation accuracy at the last epoch."""
    train, val = dict(_finite(curves.train_acc)), dict(_finite(curves.val_acc))
    both = sorted(set(train) & set(val))
    if not both:
        return None
    i = both[-1]
    gap = train[i] - val[i]
    if gap <= OVERFIT_GAP:
        return None
    return Finding(
        "accuracy_gap",
        "warn",
        "Overfitting: training accuracy far above validation",
        f"At epoch {curves.epochs[i]} training accuracy was {train[i]:.1%} and validation "
        f"accuracy {val[i]:.1%}: a gap of {gap * 100:.1f} points (more than "
        f"{OVERFIT_GAP * 100:.0f}).",
        "Add augmentation or dropout, raise weight decay, or get more training images.",
        curves.epochs[i],
    )


def underfitting(curves: Curves) -> Finding | None:
    """Low training accuracy and no gap: the model cannot fit even the images it sees."""
    train, val = dict(_finite(curves.train_acc)), dict(_finite(curves.val_acc))
    both = sorted(set(train) & set(val))
    if not both:
        return None
    i = both[-1]
    if train[i] >= UNDERFIT_TRAIN_ACC or train[i] - val[i] > OVERFIT_GAP / 2:
        return None
    return Finding(
        "underfitting",
        "warn",
        "Underfitting: the model does not fit its training images",
        f"Training accuracy in epoch {curves.epochs[i]} was {train[i]:.1%} (averaged over the "
        f"epoch; below {UNDERFIT_TRAIN_ACC:.0%}) with validation at {val[i]:.1%}.",
        "Train longer, use a larger model (more filters or width), or less augmentation.",
        curves.epochs[i],
    )


def still_improving(curves: Curves, planned_epochs: int) -> Finding | None:
    """The last epoch set a new validation-loss low, clearly below every earlier epoch's: more
    epochs would help (one noisy dip after a plateau does not count)."""
    val = _finite(curves.val_loss)
    if len(val) < 2:
        return None
    earlier = min(v for _, v in val[:-1])
    i, last = val[-1]
    drop = (earlier - last) / earlier if earlier > 0 else 0.0
    if drop <= STILL_IMPROVING:
        return None
    done = curves.epochs[i]
    more = max(planned_epochs, done) * 2
    return Finding(
        "still_improving",
        "info",
        "Still learning when training ended",
        f"Validation loss reached a new low at the last epoch, {drop:.1%} below the best "
        f"earlier epoch ({earlier:.3f} → {last:.3f} at epoch {done}).",
        f"Train more epochs (e.g. {more} instead of {max(planned_epochs, done)}).",
        done,
    )


def loss_gap(curves: Curves) -> Finding | None:
    """Validation loss many times the training loss at the last epoch: memorising."""
    train, val = dict(_finite(curves.train_loss)), dict(_finite(curves.val_loss))
    both = sorted(set(train) & set(val))
    if not both:
        return None
    i = both[-1]
    t, v = train[i], val[i]
    if v - t <= LOSS_GAP_MIN or v <= LOSS_GAP_RATIO * t:
        return None
    return Finding(
        "loss_gap",
        "warn",
        "Overfitting: validation loss far above training loss",
        f"At epoch {curves.epochs[i]} validation loss was {v:.3f}, {v / t:.1f}x the training "
        f"loss {t:.3f}.",
        "Add augmentation or dropout, raise weight decay, or get more training images; "
        "early stopping keeps the best epoch.",
        curves.epochs[i],
    )


def chance_level(accuracy: float, num_classes: int, lr: float) -> Finding | None:
    """Test accuracy no better than guessing one class in `num_classes`."""
    chance = 1 / max(num_classes, 1)
    if not math.isfinite(accuracy) or accuracy > chance + CHANCE_MARGIN:
        return None
    return Finding(
        "chance_level",
        "bad",
        "The model is at chance level",
        f"Test accuracy {accuracy:.1%} against {chance:.1%} for guessing among "
        f"{num_classes} classes: the kept weights learned (almost) nothing.",
        f"Check that the loss falls in the first epoch; if it diverges or stays flat, change "
        f"the learning rate (now {lr:g}) by 10x and train again.",
    )


def calibration(ece: float, mean_confidence: float, accuracy: float) -> Finding | None:
    """Over- or underconfidence from the expected calibration error."""
    if not math.isfinite(ece):
        return None
    if ece <= ECE_HIGH:
        return Finding(
            "calibrated",
            "good",
            "Confidences are well calibrated",
            f"Expected calibration error {ece:.3f} (at most {ECE_HIGH:g}): a confidence of "
            "p is right about p of the time.",
        )
    over = mean_confidence > accuracy
    return Finding(
        "overconfident" if over else "underconfident",
        "warn",
        "Overconfident" if over else "Underconfident",
        f"Expected calibration error {ece:.3f} (above {ECE_HIGH:g}): mean confidence "
        f"{mean_confidence:.1%} against accuracy {accuracy:.1%}.",
        "Try label smoothing (train.label_smoothing = 0.1) or temperature scaling before "
        "trusting the probabilities."
        if over
        else "Typical of an undertrained model (or of label smoothing): train longer, or "
        "apply temperature scaling before reading them as probabilities.",
    )


def weak_classes(
    f1: dict[str, float], macro_f1: float, confused_with: dict[str, tuple[str, int]]
) -> list[Finding]:
    """The classes whose F1 is WEAK_F1_MARGIN below the macro F1 (worst first, at most
    WEAKEST_K); `confused_with[c]` = (the class c is most often predicted as, count)."""
    weak = sorted((v, c) for c, v in f1.items() if v < macro_f1 - WEAK_F1_MARGIN)[:WEAKEST_K]
    findings = []
    for value, name in weak:
        other = confused_with.get(name)
        images = "image" if other and other[1] == 1 else "images"
        mix = f"; most often predicted as {other[0]} ({other[1]} {images})" if other else ""
        findings.append(
            Finding(
                "weak_class",
                "warn",
                f"Weak class: {name}",
                f"F1 {value:.3f} against a macro F1 of {macro_f1:.3f}{mix}.",
                f"Look at the {name} → {other[0]} images (most confused pairs); more {name} examples or "
                "augmentation that keeps the two apart."
                if other
                else f"Collect more {name} examples.",
                subject=name,
            )
        )
    return findings
