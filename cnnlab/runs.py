"""Runs on disk: one folder per training run, written atomically, readable while it trains.

Layout of `RUNS/<run_id>/`:
  config.json        RunConfig (rebuilds the run)
  meta.json          class names, preprocess, titles, parameter count (written when training starts)
  status.json        status + progress, rewritten atomically (tmp file + os.replace)
  events.jsonl       one JSON event per line, appended while training (start/batch/epoch/end)
  metrics.json       final test metrics
  weights.safetensors  best weights (no pickle)
  checkpoint.pt      last epoch: model, optimizer, scheduler state (loaded with weights_only=True)
  log.txt            the job's stdout/stderr
  STOP               present = stop requested
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from cnnlab.config import Preprocess, RunConfig, default_runs_dir, run_config_from_dict, to_dict

STATUSES = ("queued", "running", "finished", "stopped", "diverged", "failed", "interrupted")
ACTIVE = ("queued", "running")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


class RunNotFound(KeyError):
    """No run with that id (or the id is not a safe folder name)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else "run not found"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean(value: Any) -> Any:
    """JSON-safe plain values: numpy/torch scalars to floats/ints, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(_clean(obj), indent=1).encode())


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _read_dict(path: Path) -> dict[str, Any]:
    """A JSON object file as a dict; {} when missing, damaged or not an object."""
    value = read_json(path)
    return value if isinstance(value, dict) else {}


def resolve_runs_dir(runs_dir: str | Path | None = None) -> Path:
    path = Path(runs_dir) if runs_dir else default_runs_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Run:
    """Handle on one run folder."""

    run_id: str
    path: Path

    # -- files --------------------------------------------------------------------------------
    @property
    def weights_path(self) -> Path:
        return self.path / "weights.safetensors"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def stop_path(self) -> Path:
        return self.path / "STOP"

    def config(self) -> RunConfig:
        """The run's config; ValueError when config.json is damaged (never silent defaults)."""
        data = read_json(self.path / "config.json")
        try:
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return run_config_from_dict(data)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ValueError(
                f"config.json of run {self.run_id} is damaged ({exc}), so the run "
                "cannot be rebuilt: delete it"
            ) from exc

    def meta(self) -> dict[str, Any]:
        return _read_dict(self.path / "meta.json")

    def status(self) -> dict[str, Any]:
        status = read_json(self.path / "status.json")
        if not isinstance(status, dict) or not status:
            return {"status": "failed", "message": "status.json is missing or damaged"}
        return status

    def metrics(self) -> dict[str, Any]:
        return _read_dict(self.path / "metrics.json")

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_json(self.path / "meta.json", meta)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_json(self.path / "metrics.json", metrics)

    def update_status(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into status.json (atomic); returns the new status."""
        status = _read_dict(self.path / "status.json")
        status.update(fields)
        status["updated"] = time.time()
        atomic_write_json(self.path / "status.json", status)
        return status

    # -- events -------------------------------------------------------------------------------
    def append_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Append events as JSON lines; one write call so a reader never sees a torn line."""
        data = "".join(json.dumps(_clean(e)) + "\n" for e in events).encode()
        if data:
            with open(self.path / "events.jsonl", "a+b") as f:
                if f.seek(0, os.SEEK_END) > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":  # a killed writer left a torn line: end it first
                        data = b"\n" + data
                f.write(data)
                f.flush()

    def read_events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events after byte `offset`, and the offset to pass next time (partial lines wait)."""
        path = self.path / "events.jsonl"
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            return [], offset
        end = chunk.rfind(b"\n") + 1  # only whole lines; a line being written is read next time
        events = []
        for line in chunk[:end].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a damaged line never breaks the reader
            if isinstance(event, dict):
                events.append(event)
        return events, offset + end

    # -- weights ------------------------------------------------------------------------------
    def save_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Best weights as safetensors, atomically (a crash keeps the previous file intact)."""
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".weights.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp)
            os.replace(tmp, self.weights_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_weights(self) -> dict[str, torch.Tensor]:
        return load_file(str(self.weights_path), device="cpu")

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any]:
        # weights_only=True, explicitly: a checkpoint must never run code when loaded.
        return torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)


@dataclass(frozen=True)
class RunInfo:
    """One row of the runs list."""

    run_id: str
    status: str
    created: float  # unix seconds
    dataset: str
    model: str
    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    best_val_acc: float | None
    test_acc: float | None
    duration_s: float | None
    message: str


def new_run_id() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{os.urandom(3).hex()}"


def create_run(cfg: RunConfig, runs_dir: str | Path | None = None) -> Run:
    """A new run folder with its config and status "queued"."""
    root = resolve_runs_dir(runs_dir)
    while True:
        run_id = new_run_id()
        path = root / run_id
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    run = Run(run_id, path)
    try:
        atomic_write_json(path / "config.json", to_dict(cfg))
        run.update_status(status="queued", created=time.time(), message="")
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # e.g. the disk is full: no half-made run left
        raise
    return run


def get_run(run_id: str, runs_dir: str | Path | None = None) -> Run:
    """The run with this id; ids that are not plain folder names are refused (no path tricks)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise RunNotFound(f"{run_id!r} is not a valid run id")
    root = resolve_runs_dir(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root or not (path / "config.json").is_file():
        raise RunNotFound(f"no run {run_id!r} in {root}")
    return Run(run_id, path)


def run_from_dir(path: str | Path) -> Run:
    path = Path(path).resolve()
    if not (path / "config.json").is_file():
        raise RunNotFound(f"{path} is not a run folder (no config.json)")
    return Run(path.name, path)


def _info(run: Run) -> RunInfo:
    status = run.status()
    try:
        cfg = run.config()
    except ValueError as exc:  # garbage or ill-typed config.json
        cfg = RunConfig()
        status = {**status, "status": "failed", "message": str(exc)}
    metrics = run.metrics()
    meta = run.meta()
    started, ended = status.get("started"), status.get("ended")
    duration = (ended or time.time()) - started if started else None
    return RunInfo(
        run_id=run.run_id,
        status=str(status.get("status", "failed")),
        created=float(status.get("created") or run.path.stat().st_mtime),
        dataset=meta.get("dataset_title") or cfg.data.name,
        model=meta.get("model_title") or cfg.model.name,
        optimizer=cfg.train.optimizer,
        lr=cfg.train.lr,
        epochs=cfg.train.epochs,
        batch_size=cfg.train.batch_size,
        best_val_acc=status.get("best_val_acc"),
        test_acc=metrics.get("test_acc"),
        duration_s=duration,
        message=str(status.get("message") or ""),
    )


def _damaged_info(run: Run, exc: Exception) -> RunInfo:
    return RunInfo(
        run.run_id,
        "failed",
        run.path.stat().st_mtime,
        "?",
        "?",
        "?",
        0.0,
        0,
        0,
        None,
        None,
        None,
        f"the run folder is damaged ({type(exc).__name__}: {exc}); delete it",
    )


def list_runs(runs_dir: str | Path | None = None) -> list[RunInfo]:
    """Every run, newest first; unreadable folders are skipped."""
    root = resolve_runs_dir(runs_dir)
    infos = []
    for path in root.iterdir():
        # Symlinked folders are skipped, as get_run refuses them (they may point anywhere).
        if (
            path.is_dir()
            and not path.is_symlink()
            and (path / "config.json").is_file()
            and _RUN_ID.match(path.name)
        ):
            run = Run(path.name, path)
            try:
                infos.append(_info(run))
            except Exception as exc:  # noqa: BLE001 - one damaged folder never hides the others
                infos.append(_damaged_info(run, exc))
    return sorted(infos, key=lambda i: i.created, reverse=True)


def delete_run(run_id: str, runs_dir: str | Path | None = None) -> None:
    run = get_run(run_id, runs_dir)
    if run.status().get("status") in ACTIVE:
        raise ValueError(f"run {run_id} is {run.status().get('status')}: stop it before deleting")
    shutil.rmtree(run.path)


@dataclass
class LoadedModel:
    """A trained model ready for inference (eval mode, CPU) with what it needs to preprocess."""

    run_id: str
    model: torch.nn.Module
    class_names: list[str]
    preprocess: Preprocess
    config: RunConfig
    meta: dict[str, Any]


class WeightsError(ValueError):
    """Weights that cannot be loaded into the run's architecture (message says why)."""


def load_model(run_id: str, runs_dir: str | Path | None = None) -> LoadedModel:
    """Rebuild a run's model from config + meta and load its best weights (no pickle)."""
    from cnnlab.models import build_model  # local import: keeps `runs` light for listing

    run = get_run(run_id, runs_dir)
    meta = run.meta()
    if "preprocess" not in meta or not run.weights_path.is_file():
        raise WeightsError(
            f"run {run_id} has no saved weights yet (status: {run.status().get('status')})"
        )
    cfg = run.config()
    preprocess = Preprocess.from_dict(meta["preprocess"])
    class_names = list(meta["class_names"])
    # Saved weights replace everything: don't read cached ImageNet weights only to overwrite them.
    model = build_model(
        dataclasses.replace(cfg.model, pretrained=False), preprocess, len(class_names)
    )
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


def latest_run(status: str | None = "finished", runs_dir: str | Path | None = None) -> str | None:
    """Id of the newest run (with `status` if given), or None."""
    for info in list_runs(runs_dir):
        if status is None or info.status == status:
            return info.run_id
    return None


def export_run_zip(run_id: str, runs_dir: str | Path | None = None) -> bytes:
    """Weights + config + meta + metrics + events of one run as a zip (for download)."""
    run = get_run(run_id, runs_dir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in (
            "config.json",
            "meta.json",
            "metrics.json",
            "status.json",
            "events.jsonl",
            "weights.safetensors",
        ):
            path = run.path / name
            if path.is_file() and not path.is_symlink():  # a link may point anywhere
                zf.write(run.path / name, f"{run_id}/{name}")
    return buffer.getvalue()
