"""Out-of-sample class probabilities for every training image, by k-fold cross-training.

A model scores its own training images too kindly (it has learned their labels, wrong ones
included), so confident learning needs probabilities from models that never saw the image. The
train split is cut into `folds` stratified parts; for each part a fresh model is trained with the
run's own recipe (`cnnlab.training.train`, same model, optimiser, schedule, augmentation and
validation split; optionally fewer epochs) on the other parts, and predicts the held-out part.
Every training image thus gets probabilities from exactly one model that did not train on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from cnnlab.config import RunConfig, run_config_from_dict, to_dict
from cnnlab.data.types import DataSplit, ImageDataset

MIN_FOLDS, MAX_FOLDS = 2, 10  # 3-5 is the usual choice; 2 halves the training data per model


@dataclass(frozen=True)
class Progress:
    """Where the cross-training is: fold `fold` (1-based) of `folds`, `fraction` of all work."""

    fold: int
    folds: int
    fraction: float  # 0..1 over all folds
    message: str


@dataclass(frozen=True)
class OutOfSample:
    """Held-out predictions for the training split the run trained on (its patch applied)."""

    probs: np.ndarray  # float32 (N, K): row i from the model of the fold that held image i out
    labels: np.ndarray  # int64 (N,): the given labels
    fold_of: np.ndarray  # int64 (N,): the fold (0-based) that held image i out
    fold_accuracy: tuple[float, ...]  # held-out accuracy of each fold's model, 0..1
    folds: int
    epochs: int  # epochs each fold's model trained
    config_key: str  # `config_key(cfg, folds, epochs)` of what it was computed for

    @property
    def accuracy(self) -> float:
        """Held-out accuracy over all training images (how well the recipe generalises)."""
        return float((self.probs.argmax(1) == self.labels).mean())


def config_key(cfg: RunConfig, folds: int, epochs: int) -> str:
    """A digest of what the probabilities depend on: the data (its patch included), the model,
    the augmentation and the training recipe, the folds and the epochs; not the run's notes."""
    cfg = run_config_from_dict(to_dict(cfg))  # canonical types: a recipe's 8 is the file's 8.0
    train = dataclasses.replace(cfg.train, device="", threads=0, batch_events_per_s=0.0)
    parts = [to_dict(cfg.data), to_dict(cfg.model), to_dict(cfg.augment), to_dict(train)]
    text = json.dumps([parts, folds, epochs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fold_assignment(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(N,) the fold of each image: stratified (scikit-learn's StratifiedKFold, shuffled) when
    every class has at least `folds` images, else a plain shuffled KFold."""
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.bincount(labels)
    stratify = counts[counts > 0].min() >= folds
    splitter = (StratifiedKFold if stratify else KFold)(folds, shuffle=True, random_state=seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        fold_of[held] = k
    return fold_of


def fold_config(cfg: RunConfig, epochs: int) -> RunConfig:
    """The run's recipe for one fold's model: `epochs` (0 = the run's), no checkpoints, no time
    limit, one process, nothing recorded about its insides."""
    train = dataclasses.replace(
        cfg.train,
        epochs=epochs or cfg.train.epochs,
        checkpoint_every=0,
        time_limit_s=0.0,
        nproc=1,
        batch_events_per_s=5.0,
    )
    return dataclasses.replace(cfg, train=train)


def cross_val_probs(
    cfg: RunConfig,
    dataset: ImageDataset,
    *,
    folds: int = 4,
    epochs: int = 0,
    progress: Callable[[Progress], None] = lambda p: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> OutOfSample:
    """Out-of-sample probabilities of `dataset.train` (see the module docstring).

    `epochs` 0 = the run's own. Raises ValueError for a bad fold count, InterruptedError when
    `should_stop` turns true, RuntimeError when a fold's training diverges."""
    from cnnlab.evaluate import predict_probs
    from cnnlab.models import build_model
    from cnnlab.training import train

    if not MIN_FOLDS <= folds <= MAX_FOLDS:
        raise ValueError(f"folds must be between {MIN_FOLDS} and {MAX_FOLDS}, got {folds}")
    labels = dataset.train.y.numpy()
    if len(labels) < 2 * folds:
        raise ValueError(f"{len(labels)} training images are too few for {folds} folds")
    fold_cfg = fold_config(cfg, epochs)
    fold_of = fold_assignment(labels, folds, cfg.train.seed)
    probs = np.zeros((len(labels), dataset.num_classes), dtype=np.float32)
    accuracy = []
    for k in range(folds):
        held = np.flatnonzero(fold_of == k)
        kept = torch.from_numpy(np.flatnonzero(fold_of != k))
        part = dataclasses.replace(
            dataset, train=DataSplit(dataset.train.x[kept], dataset.train.y[kept])
        )
        torch.manual_seed(cfg.train.seed + k)  # each fold's model starts from its own weights
        model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
        result = train(
            fold_cfg, part, model, emit=_fold_progress(k, folds, progress), should_stop=should_stop
        )
        if result.status == "stopped" and should_stop():
            raise InterruptedError("cross-training was stopped")
        if result.status == "diverged":
            raise RuntimeError(f"fold {k + 1}: training diverged ({result.message})")
        if result.best_state:
            model.load_state_dict(result.best_state)  # the best validation epoch, as a run keeps
        probs[held] = predict_probs(model, dataset.train.x[held], cfg.train.eval_batch_size)
        accuracy.append(float((probs[held].argmax(1) == labels[held]).mean()))
        progress(Progress(k + 1, folds, (k + 1) / folds, f"fold {k + 1} of {folds} done"))
    return OutOfSample(
        probs=probs,
        labels=labels.astype(np.int64),
        fold_of=fold_of,
        fold_accuracy=tuple(accuracy),
        folds=folds,
        epochs=fold_cfg.train.epochs,
        config_key=config_key(cfg, folds, fold_cfg.train.epochs),
    )


def _fold_progress(k: int, folds: int, progress: Callable[[Progress], None]) -> Callable:
    """The training events of fold `k` as overall Progress (steps done / all steps)."""
    from cnnlab.events import BatchEvent, StartEvent

    total = {"steps": 1}

    def emit(event: object) -> None:
        if isinstance(event, StartEvent):
            total["steps"] = max(1, event.total_steps)
        elif isinstance(event, BatchEvent):
            within = min(1.0, event.step / total["steps"])
            text = f"fold {k + 1} of {folds}: epoch {event.epoch}"
            progress(Progress(k + 1, folds, (k + within) / folds, text))

    return emit
