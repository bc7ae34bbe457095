"""The run folder: one folder per training run, written atomically, readable while it trains.

This module is the only one that knows the folder's file names (ARCHITECTURE.md has the contract:
which file, who writes it, who reads it). Everything else goes through a `Run` handle.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from cnnlab import events as ev
from cnnlab.config import RunConfig, default_runs_dir, run_config_from_dict, to_dict
from cnnlab.jsonio import atomic_path, atomic_write_bytes, atomic_write_json, read_dict, read_json
from cnnlab.runs.access import RunOwner
from cnnlab.runs.status import RESUMABLE, RunStatus, Status

# The folder's file names: known to the cnnlab.runs modules only (never spelled elsewhere).
CONFIG_FILE = "config.json"  # RunConfig (rebuilds the run)
META_FILE = "meta.json"  # class names, preprocess, titles, parameter count (written at start)
STATUS_FILE = "status.json"  # RunStatus, rewritten atomically
EVENTS_FILE = "events.jsonl"  # one event per line, appended while training
METRICS_FILE = "metrics.json"  # final test metrics
WEIGHTS_FILE = "weights.safetensors"  # best weights (no pickle)
CHECKPOINT_FILE = "checkpoint.pt"  # last epoch: model, optimizer, scheduler (weights_only=True)
LOG_FILE = "log.txt"  # the job's stdout/stderr
ERROR_LOG_FILE = "error.log"  # traceback of a failed run
STOP_FILE = "STOP"  # present = stop requested
OWNER_FILE = "owner.json"  # RunOwner: who started it (written once, before the config)
SNAPSHOTS_DIR = "snapshots"  # cnnlab.watch: probes, one file per snapshot, latest features
MISLABELS_FILE = "mislabels.npz"  # cnnlab.mislabels: out-of-sample probabilities (k-fold)
MISLABELS_JOB_FILE = "mislabels-job.json"  # cnnlab.mislabels: the cross-training job's progress
# What a downloaded run zip holds (and all an imported one may hold), in this order.
ARCHIVE_FILES = (CONFIG_FILE, META_FILE, METRICS_FILE, STATUS_FILE, EVENTS_FILE, WEIGHTS_FILE)
REQUIRED_IMPORT_FILES = (CONFIG_FILE, META_FILE, WEIGHTS_FILE)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
_STATUS_FIELDS = {f.name for f in fields(RunStatus)}
ERROR_TAIL_CHARS = 4000  # how much of a traceback the pages show


class RunNotFound(KeyError):
    """No run with that id (or the id is not a safe folder name)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else "run not found"


def resolve_runs_dir(runs_dir: str | Path | None = None) -> Path:
    path = Path(runs_dir) if runs_dir else default_runs_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Run:
    """Handle on one run folder."""

    run_id: str
    path: Path

    # -- config, meta, metrics ----------------------------------------------------------------
    def config(self) -> RunConfig:
        """The run's config; ValueError when it is damaged (never silent defaults)."""
        data = read_json(self.path / CONFIG_FILE)
        try:
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return run_config_from_dict(data)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ValueError(
                f"the config of run {self.run_id} is damaged ({exc}), so the run "
                "cannot be rebuilt: delete it"
            ) from exc

    def meta(self) -> dict[str, Any]:
        return read_dict(self.path / META_FILE)

    def metrics(self) -> dict[str, Any]:
        return read_dict(self.path / METRICS_FILE)

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_json(self.path / META_FILE, meta)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_json(self.path / METRICS_FILE, metrics)

    def owner(self) -> RunOwner:
        return RunOwner.from_dict(read_json(self.path / OWNER_FILE))

    def write_owner(self, owner: RunOwner) -> None:
        atomic_write_json(self.path / OWNER_FILE, owner.to_dict())

    # -- status: read anywhere, written through update_status only -----------------------------
    def status(self) -> RunStatus:
        return RunStatus.from_dict(read_json(self.path / STATUS_FILE))

    def update_status(self, status: Status | None = None, **changes: Any) -> RunStatus:
        """THE writer of the status file: merge `changes` (RunStatus fields) and, when given,
        the new lifecycle `status`; atomic. Returns the new record."""
        unknown = set(changes) - _STATUS_FIELDS
        if unknown:
            raise TypeError(f"not RunStatus fields: {sorted(unknown)}")
        data = read_dict(self.path / STATUS_FILE)
        data.update(changes)
        if status is not None:
            data["status"] = Status(status).value
        data["updated"] = time.time()
        atomic_write_json(self.path / STATUS_FILE, data)
        return RunStatus.from_dict(data)

    # -- stop requests ----------------------------------------------------------------------------
    def request_stop(self) -> None:
        (self.path / STOP_FILE).touch()

    def clear_stop(self) -> None:
        (self.path / STOP_FILE).unlink(missing_ok=True)

    def stop_requested(self) -> bool:
        return os.path.exists(self.path / STOP_FILE)  # checked every batch: one stat call

    # -- events -------------------------------------------------------------------------------
    def append_events(self, events: Iterable[Any]) -> None:
        """Append event dataclasses (see cnnlab.events) in one write."""
        ev.append_events(self.path / EVENTS_FILE, events)

    def read_events(self, offset: int = 0) -> tuple[list[Any], int]:
        """Typed events after byte `offset`, and the offset to pass next time."""
        return ev.read_events(self.path / EVENTS_FILE, offset)

    def clear_events(self) -> None:
        (self.path / EVENTS_FILE).unlink(missing_ok=True)

    # -- logs -----------------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        """Where the job process's stdout/stderr go."""
        return self.path / LOG_FILE

    def write_error(self, text: str) -> None:
        (self.path / ERROR_LOG_FILE).write_text(text)

    def error_text(self, max_chars: int = ERROR_TAIL_CHARS) -> str:
        """The tail of the failed run's traceback ("" when there is none)."""
        try:
            return (self.path / ERROR_LOG_FILE).read_text(errors="replace")[-max_chars:]
        except OSError:
            return ""

    # -- snapshots (cnnlab.watch names the files inside) ------------------------------------------
    @property
    def snapshots_dir(self) -> Path:
        """The folder of the run's snapshots (may not exist: older runs, snapshots off)."""
        return self.path / SNAPSHOTS_DIR

    # -- mislabel finder (cnnlab.mislabels reads and writes these, atomically) ---------------------
    @property
    def mislabels_path(self) -> Path:
        """The cached out-of-sample probabilities of the training images (may not exist)."""
        return self.path / MISLABELS_FILE

    @property
    def mislabels_job_path(self) -> Path:
        """The cross-training job's progress record (may not exist: never started)."""
        return self.path / MISLABELS_JOB_FILE

    # -- weights and checkpoints ----------------------------------------------------------------
    def has_weights(self) -> bool:
        return (self.path / WEIGHTS_FILE).is_file()

    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT_FILE).is_file()

    def can_resume(self, status: RunStatus | None = None) -> bool:
        """Interrupted, failed or stopped, with a checkpoint to continue from."""
        status = status or self.status()
        return status.status in RESUMABLE and self.has_checkpoint()

    def weights_bytes(self) -> int | None:
        """Size of the best-weights file in bytes (a model's size on disk); None without one."""
        try:
            return (self.path / WEIGHTS_FILE).stat().st_size
        except OSError:
            return None

    def weights_version(self) -> float:
        """Changes whenever the weights file is rewritten (mtime); 0.0 without weights. A cache
        key for anything computed from the weights."""
        try:
            return (self.path / WEIGHTS_FILE).stat().st_mtime
        except OSError:
            return 0.0

    def save_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Best weights as safetensors, atomically (a crash keeps the previous file intact)."""
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
        with atomic_path(self.path / WEIGHTS_FILE) as tmp:
            save_file(tensors, tmp)

    def load_weights(self) -> dict[str, torch.Tensor]:
        return load_file(str(self.path / WEIGHTS_FILE), device="cpu")

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(self.path / CHECKPOINT_FILE, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last checkpoint, or None when there is none."""
        if not self.has_checkpoint():
            return None
        # weights_only=True, explicitly: a checkpoint must never run code when loaded.
        return torch.load(self.path / CHECKPOINT_FILE, map_location="cpu", weights_only=True)

    # -- archive ----------------------------------------------------------------------------------
    def archive_members(self) -> list[tuple[str, Path]]:
        """(file name, path) of what a downloaded run zip holds; links are left out."""
        return [
            (name, self.path / name)
            for name in ARCHIVE_FILES
            if (self.path / name).is_file() and not (self.path / name).is_symlink()
        ]


@dataclass(frozen=True)
class RunInfo:
    """One row of the runs list."""

    run_id: str
    status: Status
    created: float  # unix seconds
    dataset: str
    model: str
    optimizer: str
    lr: float
    epochs: int  # epochs configured
    batch_size: int
    best_val_acc: float | None
    test_acc: float | None
    duration_s: float | None
    message: str
    has_weights: bool = False
    owner: RunOwner = RunOwner()
    name: str = ""  # the name its owner gave it ("" = none)


def new_run_id() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{os.urandom(3).hex()}"


def _new_folder(root: Path) -> Run:
    while True:
        run_id = new_run_id()
        try:
            (root / run_id).mkdir()
            return Run(run_id, root / run_id)
        except FileExistsError:
            continue


def create_run(
    cfg: RunConfig, runs_dir: str | Path | None = None, owner: RunOwner | None = None
) -> Run:
    """A new run folder with its owner, config and status "queued". The config is written last:
    a folder counts as a run once it has one, so readers never see a run without a status."""
    run = _new_folder(resolve_runs_dir(runs_dir))
    try:
        run.update_status(Status.QUEUED, created=time.time(), message="")
        run.write_owner(owner or RunOwner())
        atomic_write_json(run.path / CONFIG_FILE, to_dict(cfg))
    except BaseException:  # a full disk must not leave a half-made run behind
        shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run


def create_imported_run(
    files: dict[str, bytes],
    status: RunStatus,
    runs_dir: str | Path | None = None,
    owner: RunOwner | None = None,
) -> Run:
    """A new run folder holding already-checked archive `files` (names from ARCHIVE_FILES),
    owned by who imported it (an archive's own owner is never trusted)."""
    unknown = set(files) - set(ARCHIVE_FILES)
    if unknown:
        raise ValueError(f"not run files: {sorted(unknown)}")
    run = _new_folder(resolve_runs_dir(runs_dir))
    try:  # status first and config last (see create_run)
        atomic_write_json(run.path / STATUS_FILE, status.to_dict())
        run.write_owner(owner or RunOwner())
        for name in sorted(set(files) - {STATUS_FILE, CONFIG_FILE}):
            atomic_write_bytes(run.path / name, files[name])
        if CONFIG_FILE in files:
            atomic_write_bytes(run.path / CONFIG_FILE, files[CONFIG_FILE])
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run


def get_run(run_id: str, runs_dir: str | Path | None = None) -> Run:
    """The run with this id; ids that are not plain folder names are refused (no path tricks)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise RunNotFound(f"{run_id!r} is not a valid run id")
    root = resolve_runs_dir(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root or not (path / CONFIG_FILE).is_file():
        raise RunNotFound(f"no run {run_id!r} in {root}")
    return Run(run_id, path)


def run_from_dir(path: str | Path) -> Run:
    path = Path(path).resolve()
    if not (path / CONFIG_FILE).is_file():
        raise RunNotFound(f"{path} is not a run folder (no config)")
    return Run(path.name, path)


def _info(run: Run) -> RunInfo:
    status = run.status()
    message = status.message
    try:
        cfg = run.config()
    except ValueError as exc:  # garbage or ill-typed config
        cfg, status, message = RunConfig(), RunStatus(Status.FAILED), str(exc)
    meta = run.meta()
    return RunInfo(
        run_id=run.run_id,
        status=status.status,
        created=float(status.created or run.path.stat().st_mtime),
        dataset=str(meta.get("dataset_title") or cfg.data.name),
        model=str(meta.get("model_title") or cfg.model.name),
        optimizer=cfg.train.optimizer,
        lr=cfg.train.lr,
        epochs=cfg.train.epochs,
        batch_size=cfg.train.batch_size,
        best_val_acc=status.best_val_acc,
        test_acc=run.metrics().get("test_acc"),
        duration_s=status.duration_s,
        message=message,
        has_weights=run.has_weights(),
        owner=run.owner(),
        name=status.name,
    )


def _damaged_info(run: Run, exc: Exception) -> RunInfo:
    message = f"the run folder is damaged ({type(exc).__name__}: {exc}); delete it"
    return RunInfo(
        run.run_id, Status.FAILED, run.path.stat().st_mtime, "?", "?", "?", 0.0, 0, 0,
        None, None, None, message, owner=run.owner(),
    )  # fmt: skip


def list_runs(
    runs_dir: str | Path | None = None,
    *,
    status: Collection[Status] | Status | None = None,
    with_weights: bool = False,
) -> list[RunInfo]:
    """Every run (with one of the statuses `status`; with weights only if asked), newest first.
    A damaged folder is listed as failed, never hides the others."""
    root = resolve_runs_dir(runs_dir)
    wanted = {status} if isinstance(status, str) else status
    infos = []
    for path in root.iterdir():
        # Symlinked folders are skipped, as get_run refuses them (they may point anywhere).
        if path.is_dir() and not path.is_symlink() and (path / CONFIG_FILE).is_file():
            if not _RUN_ID.match(path.name):
                continue
            run = Run(path.name, path)
            try:
                info = _info(run)
            except Exception as exc:  # noqa: BLE001 - one damaged folder never hides the others
                info = _damaged_info(run, exc)
            if (wanted is None or info.status in wanted) and (info.has_weights or not with_weights):
                infos.append(info)
    return sorted(infos, key=lambda i: i.created, reverse=True)


def latest_run(
    status: Status | None = Status.FINISHED, runs_dir: str | Path | None = None
) -> str | None:
    """Id of the newest run (with `status` if given), or None."""
    runs = list_runs(runs_dir, status=status)
    return runs[0].run_id if runs else None
