"""A run's trained model: rebuilt from its config + meta, best weights loaded strictly (no pickle)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnlab.config import Preprocess, RunConfig
from cnnlab.runs.store import Run, get_run


class WeightsError(ValueError):
    """Weights that cannot be loaded into the run's architecture (message says why)."""


@dataclass
class LoadedModel:
    """A trained model ready for inference (eval mode, CPU) with what it needs to preprocess."""

    run_id: str
    model: torch.nn.Module
    class_names: list[str]
    preprocess: Preprocess
    config: RunConfig
    meta: dict[str, Any]


def build_run_model(run: Run) -> tuple[torch.nn.Module, list[str], Preprocess, RunConfig]:
    """The run's architecture with fresh weights: (model, class names, preprocess, config).
    WeightsError when the run has not started training (its classes and input size are unknown);
    ValueError when its config or meta is damaged."""
    from cnnlab.models import build_model  # local import: keeps `runs` light for listing

    meta = run.meta()
    if "preprocess" not in meta or "class_names" not in meta:
        raise WeightsError(
            f"run {run.run_id} has not started training yet, so its classes and input size "
            "are unknown: choose a run that has trained"
        )
    cfg = run.config()
    try:
        preprocess = Preprocess.from_dict(meta["preprocess"])
        class_names = [str(c) for c in meta["class_names"]]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"the metadata of run {run.run_id} is damaged ({exc})") from exc
    # Saved weights replace everything: don't read cached ImageNet weights only to overwrite them.
    model = build_model(
        dataclasses.replace(cfg.model, pretrained=False), preprocess, len(class_names)
    )
    return model, class_names, preprocess, cfg


def load_model(run_id: str, runs_dir: str | Path | None = None) -> LoadedModel:
    """Rebuild a run's model from config + meta and load its best weights (no pickle)."""
    run = get_run(run_id, runs_dir)
    if not run.has_weights():
        raise WeightsError(f"run {run_id} has no saved weights yet (status: {run.status().status})")
    model, class_names, preprocess, cfg = build_run_model(run)
    meta = run.meta()
    model.pretrained_note = meta.get("pretrained_note", "")
    try:
        state = run.load_weights()
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise WeightsError(f"the weights file of run {run_id} is damaged: {exc}") from exc
    load_state(model, state, f"run {run_id}")
    model.eval()
    return LoadedModel(run_id, model, class_names, preprocess, cfg, meta)


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Strictly load `state`, turning shape/key mismatches and NaNs into a readable WeightsError."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape mismatch " + "; ".join(wrong[:3]))
        if missing:
            parts.append(f"{len(missing)} missing tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
        raise WeightsError(
            f"{what}: weights are for another architecture or class count: " + ", ".join(parts)
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(
            f"{what}: weights contain NaN or infinite values (e.g. {bad[0]}); "
            "the run probably diverged: retrain with a lower learning rate"
        )
    model.load_state_dict(state)
