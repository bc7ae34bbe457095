"""The out-of-sample probabilities cached in the run folder (`Run.mislabels_path`, one .npz).

Cross-training costs `folds` trainings, so its result is kept beside the run. The file holds
plain arrays only (read with `allow_pickle=False`: a run folder may come from someone else's
zip) and the key of what it was computed for; a damaged, foreign or stale file reads as absent.
"""

from __future__ import annotations

import io
import json

import numpy as np

from cnnlab.jsonio import atomic_write_bytes
from cnnlab.mislabels.crossval import OutOfSample, config_key
from cnnlab.runs.store import Run

MAX_CACHE_BYTES = 512 * 2**20  # CIFAR-100's 45,000 x 100 float32 probabilities are 18 MB


def save(run: Run, oos: OutOfSample) -> None:
    """Write `oos` to the run folder atomically (readers see the old file or the new one)."""
    meta = {"folds": oos.folds, "epochs": oos.epochs, "config_key": oos.config_key}
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        probs=oos.probs.astype(np.float32),
        labels=oos.labels.astype(np.int64),
        fold_of=oos.fold_of.astype(np.int64),
        fold_accuracy=np.asarray(oos.fold_accuracy, dtype=np.float64),
        meta=np.asarray(json.dumps(meta)),
    )
    atomic_write_bytes(run.mislabels_path, buffer.getvalue())


def load(run: Run, folds: int | None = None, epochs: int | None = None) -> OutOfSample | None:
    """The cached result, or None when there is none, it is damaged, or it was computed for
    another config (or, when given, other `folds` / `epochs`)."""
    path = run.mislabels_path
    try:
        if not path.is_file() or path.stat().st_size > MAX_CACHE_BYTES:
            return None
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            oos = OutOfSample(
                probs=f["probs"].astype(np.float32),
                labels=f["labels"].astype(np.int64),
                fold_of=f["fold_of"].astype(np.int64),
                fold_accuracy=tuple(float(a) for a in f["fold_accuracy"]),
                folds=int(meta["folds"]),
                epochs=int(meta["epochs"]),
                config_key=str(meta["config_key"]),
            )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    n, k = oos.probs.shape if oos.probs.ndim == 2 else (-1, 0)
    if len(oos.labels) != n or len(oos.fold_of) != n or not (0 <= oos.labels).all():
        return None
    if k == 0 or (oos.labels >= k).any() or not np.isfinite(oos.probs).all():
        return None
    try:
        cfg = run.config()
    except ValueError:
        return None
    epochs = epochs or (cfg.train.epochs if epochs == 0 else None)  # 0 = the run's own epochs
    if folds is not None and oos.folds != folds or epochs is not None and oos.epochs != epochs:
        return None
    wanted = config_key(cfg, oos.folds, oos.epochs)
    return oos if wanted == oos.config_key else None
