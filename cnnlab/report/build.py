"""A run's results report as data: what it measured, and what the measurements say.

`build_report` is pure given the run folder and an `EvalReport`: the Evaluate page passes the
report it already shows (so every number is the page's), the CLI's `report_for_run` computes it
with the same call the page makes (`cnnlab.evaluate.evaluate` on the test split with the run's
`eval_batch_size`). A run without weights or whose dataset is unavailable still gets a report of
its configuration and curves; `missing` says what is absent and why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import cnnlab
from cnnlab.config import to_dict
from cnnlab.evaluate import EvalReport, cell_indices, most_confused
from cnnlab.report import diagnosis as rules
from cnnlab.report.calibration import Reliability, reliability
from cnnlab.runs.evaluation import AVERAGE_ROWS
from cnnlab.runs.history import History, run_history
from cnnlab.runs.store import Run, get_run

PAIRS = 5  # most-confused pairs listed
EXAMPLES = 6  # example images per pair (most confident mistakes first)
THUMB_SIDE = 56  # pixels: the thumbnails' longer side (small images enlarged, nearest)
# Settings that say how the run was computed, not what it learned: left out of the table.
PLUMBING = {
    "data": {"root", "shapes"},
    "model": {"spec"},
    "train": {
        "device", "threads", "channels_last", "batch_events_per_s", "checkpoint_every",
        "eval_batch_size", "compile", "nproc",
    },
}  # fmt: skip


@dataclass(frozen=True)
class Example:
    index: int  # position in the test split
    uri: str  # PNG data URI of the enlarged image
    prob: float  # probability given to the predicted class, 0..1


@dataclass(frozen=True)
class Pair:
    """One off-diagonal confusion cell with example images."""

    true: str
    predicted: str
    count: int
    share: float  # count / images of the true class, 0..1
    examples: list[Example]


@dataclass(frozen=True)
class RunReport:
    run_id: str
    dataset: str  # its title
    model: str  # its title
    status: str  # finished, stopped, diverged, ...
    message: str  # the run's own last word (why it stopped, diverged)
    created: float | None  # unix seconds
    planned_epochs: int
    config: list[tuple[str, str]]  # ("train.lr", "0.002"), ...
    curves: rules.Curves
    best_epoch: int | None  # the epoch whose weights were kept (None: none validated)
    evaluation: EvalReport | None  # the test split's, as on the Evaluate page
    scores: pd.DataFrame | None  # per class: class, precision, recall, f1, support
    averages: pd.DataFrame | None  # rows "macro avg", "weighted avg"
    pairs: list[Pair]
    calibration: Reliability | None
    findings: list[rules.Finding]
    missing: list[str]  # what this report lacks and why
    generated: float = field(default_factory=time.time)
    version: str = cnnlab.__version__

    @property
    def macro_f1(self) -> float | None:
        if self.averages is None:
            return None
        return float(self.averages.set_index("class").loc["macro avg", "f1"])


def _relevant(cfg: Any, key: str, value: Any) -> bool:
    """Whether a setting matters for this run (e.g. SGD's momentum not for Adam, a zero
    augmentation strength or time limit not at all)."""
    section, name = key.split(".", 1)
    if name in PLUMBING.get(section, ()) or section == "watch":
        return False
    if section == "augment" or key in ("train.time_limit_s", "data.limit", "data.image_size"):
        return bool(value)
    if key in ("data.path", "data.root"):
        return bool(value)
    if key == "data.num_images":
        return cfg.data.name == "shapes"
    if key in ("train.step_size", "train.gamma"):
        return cfg.train.schedule == "step"
    if key == "train.nesterov":
        return cfg.train.optimizer == "sgd"
    return not (
        key == "model.pretrained" and cfg.model.name not in ("resnet18", "mobilenet-v3-small")
    )


def config_rows(cfg: Any) -> list[tuple[str, str]]:
    """The run's settings that matter as (section.field, value) rows."""
    rows = []
    for section, values in to_dict(cfg).items():
        if not isinstance(values, dict):
            if values:
                rows.append((section, str(values)))
            continue
        for name, value in values.items():
            if _relevant(cfg, f"{section}.{name}", value):
                text = f"{value:g}" if isinstance(value, float) else str(value)
                rows.append((f"{section}.{name}", text))
    if not any(key.startswith("augment.") for key, _ in rows):
        rows.append(("augment", "none"))
    if cfg.model.name == "custom":
        rows.append(("model.spec", f"{len(cfg.model.spec.blocks)} conv blocks (custom network)"))
    return rows


def facts(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """What the run recorded about its data and model when it started (meta.json)."""
    rows = []
    sizes = meta.get("split_sizes")
    if isinstance(sizes, dict):
        split = " · ".join(f"{k} {v:,}" for k, v in sizes.items() if isinstance(v, int))
        rows.append(("data.images", split))
    if isinstance(meta.get("params"), int):
        rows.append(("model.parameters", f"{meta['params']:,}"))
    return rows


def curves_of(history: History) -> rules.Curves:
    """The per-epoch and per-batch curves of a run's latest pass."""
    epochs = history.epochs
    return rules.Curves(
        epochs=[e.epoch for e in epochs],
        train_loss=[e.train_loss for e in epochs],
        val_loss=[e.val_loss for e in epochs],
        train_acc=[e.train_acc for e in epochs],
        val_acc=[e.val_acc for e in epochs],
        batch_loss=[b.loss for b in history.batches],
        batch_epoch=[b.epoch for b in history.batches],
        partial=[e.partial for e in epochs],
    )


def confused_pairs(report: EvalReport, test_x: torch.Tensor | None, k: int = PAIRS) -> list[Pair]:
    """The k most confused pairs, each with up to EXAMPLES test images (uint8 (N, C, H, W))."""
    from cnnlab.display import image_uri  # PIL + plotly: only when pictures are made

    table = most_confused(report, k)
    index = {name: i for i, name in enumerate(report.class_names)}
    pairs = []
    for row in table.itertuples(index=False):
        t, p = index[row.true], index[row.predicted]
        examples = []
        if test_x is not None:
            for i in cell_indices(report, t, p)[:EXAMPLES]:
                uri = image_uri(test_x[int(i)], side=THUMB_SIDE)
                examples.append(Example(int(i), uri, float(report.probs[i, p])))
        pairs.append(
            Pair(
                str(row.true),
                str(row.predicted),
                int(row.count),
                float(row.share_of_true),
                examples,
            )
        )
    return pairs


def worst_confusions(report: EvalReport) -> dict[str, tuple[str, int]]:
    """Per true class with mistakes: (the class it is most often predicted as, how often)."""
    off = report.confusion * (1 - np.eye(len(report.confusion), dtype=np.int64))  # (K, K)
    names = report.class_names
    return {
        names[t]: (names[int(off[t].argmax())], int(off[t].max()))
        for t in range(len(names))
        if off[t].max() > 0
    }


def findings_for(
    curves: rules.Curves,
    *,
    status: str,
    lr: float,
    planned_epochs: int,
    calibration: Reliability | None = None,
    scores: pd.DataFrame | None = None,
    macro_f1: float | None = None,
    confused_with: dict[str, tuple[str, int]] | None = None,
) -> list[rules.Finding]:
    """Every rule's finding for these measurements, worst first."""
    found = [
        rules.divergence(status, curves, lr),
        rules.loss_spikes(curves, lr),
        rules.train_loss_rises(curves, lr),
        rules.val_loss_turn(curves),
        rules.accuracy_gap(curves),
        rules.loss_gap(curves),
        rules.underfitting(curves),
        rules.still_improving(curves, planned_epochs),
    ]
    findings = [f for f in found if f is not None]
    if not findings and len(curves.epochs) >= 2:
        findings.append(
            rules.Finding(
                "healthy_curves",
                "good",
                "Curves look healthy",
                "Training and validation loss fell together, with no turn, spike or large "
                "accuracy gap.",
            )
        )
    if scores is not None and calibration is not None:
        chance = rules.chance_level(calibration.accuracy_all, len(scores), lr)
        findings += [chance] if chance else []
    if calibration is not None and not any(f.rule == "chance_level" for f in findings):
        calibrated = rules.calibration(
            calibration.ece, calibration.mean_confidence, calibration.accuracy_all
        )
        findings += [calibrated] if calibrated else []
    if scores is not None and macro_f1 is not None:
        f1 = dict(zip(scores["class"].astype(str), scores["f1"].astype(float), strict=True))
        findings += rules.weak_classes(f1, macro_f1, confused_with or {})
    return sorted(findings, key=lambda f: rules.SEVERITIES.index(f.severity))


def _missing(status: str, curves: rules.Curves, best: int | None, planned: int) -> list[str]:
    notes = []
    done = len(curves.epochs)
    if status == "stopped":
        notes.append(
            f"The run was stopped after {done} of {planned} epochs: the curves end early and "
            "the diagnosis cannot say how the remaining epochs would have gone."
            + (" The last epoch was cut short: its training numbers cover the part trained."
               if curves.partial and curves.partial[-1] else "")
        )  # fmt: skip
    if status == "diverged":
        notes.append(
            "The run diverged: the epochs after the divergence were never trained, and the "
            "test numbers describe the last good weights"
            + (f" (epoch {best})." if best else " (the initial, untrained weights).")
        )
    if status == "interrupted":
        notes.append(f"The run was interrupted after {done} of {planned} epochs.")
    if done == 0:
        notes.append("No epoch was validated: there are no curves to diagnose.")
    elif done == 1:
        notes.append("Only one epoch was validated: trends (turns, gaps over time) need two.")
    return notes


def build_report(
    run: Run, evaluation: EvalReport | None, test_x: torch.Tensor | None, why: str = ""
) -> RunReport:
    """The report of `run` from its folder and the test split's `evaluation` (None: `why` says
    why it is absent); `test_x` uint8 (N, C, H, W) gives the example images (None: no pictures)."""
    cfg, meta, status = run.config(), run.meta(), run.status()
    history = run_history(run)
    curves = curves_of(history)
    best = history.best_epoch.epoch if history.best_epoch else None
    missing = _missing(status.status, curves, best, cfg.train.epochs)
    scores = averages = calib = None
    pairs: list[Pair] = []
    macro = None
    if evaluation is None:
        missing.append(f"No test evaluation: {why or 'the run has no weights'}.")
    else:
        is_average = evaluation.per_class["class"].isin(AVERAGE_ROWS)
        scores = evaluation.per_class[~is_average].reset_index(drop=True)
        averages = evaluation.per_class[is_average].reset_index(drop=True)
        macro = float(averages.set_index("class").loc["macro avg", "f1"])
        pairs = confused_pairs(evaluation, test_x)
        calib = reliability(evaluation.probs, evaluation.labels)
        if test_x is None and pairs:
            missing.append("No example images: the test images could not be loaded.")
    findings = findings_for(
        curves,
        status=str(status.status),
        lr=cfg.train.lr,
        planned_epochs=cfg.train.epochs,
        calibration=calib,
        scores=scores,
        macro_f1=macro,
        confused_with=worst_confusions(evaluation) if evaluation is not None else None,
    )
    return RunReport(
        run_id=run.run_id,
        dataset=str(meta.get("dataset_title") or cfg.data.name),
        model=str(meta.get("model_title") or cfg.model.name),
        status=str(status.status),
        message=status.message,
        created=status.created,
        planned_epochs=cfg.train.epochs,
        config=config_rows(cfg) + facts(meta),
        curves=curves,
        best_epoch=best,
        evaluation=evaluation,
        scores=scores,
        averages=averages,
        pairs=pairs,
        calibration=calib,
        findings=findings,
        missing=missing,
    )


def report_for_run(run_id: str, runs_dir: str | Path | None = None) -> RunReport:
    """Load the run's model and test split, evaluate as the Evaluate page does, and report."""
    from cnnlab.data import DatasetUnavailable, load_dataset
    from cnnlab.evaluate import evaluate
    from cnnlab.runs.loading import WeightsError, load_model

    run = get_run(run_id, runs_dir)
    try:
        loaded = load_model(run_id, runs_dir)
        dataset = load_dataset(loaded.config.data)
        evaluation = evaluate(
            loaded.model,
            dataset.test,
            loaded.class_names,
            batch_size=loaded.config.train.eval_batch_size,
        )
    except (WeightsError, DatasetUnavailable, ValueError) as exc:
        return build_report(run, None, None, why=str(exc))
    return build_report(run, evaluation, dataset.test.x)
