"""The run folder: one folder per training run, and everything that reads or writes it.

- `store`    the `Run` handle (the only module that knows the folder's file names), listing,
             creating, deleting runs
- `status`   the `Status` enum, the `RunStatus` record, the lifecycle sets
- `history`  a run's events reduced to the latest pass (the one source of its counts and curves)
- `loading`  rebuilding a run's model with its best weights
- `weights`  user weight files (safetensors / .pt), loaded without running code
- `archive`  a run as a zip: export for download, import back as a new run
- `live`     the live view of a training run for the Train page
- `tables`   runs as tables and labels for the pages
- `runner`   executes one run folder (what a job process runs)
- `jobs`     the job manager: queue, concurrency cap, stop/resume, crash bookkeeping

`runner` and `jobs` are not imported here (they pull in training); import them by module.
`live` and `tables` load on first use of one of their names (they import pandas, ~0.3 s, which
`cnnlab predict` need not pay).
"""

from importlib import import_module
from typing import Any

from cnnlab.runs.access import AccessDenied, RunOwner
from cnnlab.runs.archive import RunImportError, export_run_zip, import_run_zip
from cnnlab.runs.history import History, history_from_events, run_history
from cnnlab.runs.loading import LoadedModel, WeightsError, build_run_model, load_model, load_state
from cnnlab.runs.manage import delete_run, rename_run
from cnnlab.runs.status import (
    ACTIVE,
    DELETABLE,
    FINISHED,
    RESUMABLE,
    STATUSES,
    RunStatus,
    Status,
)
from cnnlab.runs.store import (
    Run,
    RunInfo,
    RunNotFound,
    create_run,
    get_run,
    latest_run,
    list_runs,
    resolve_runs_dir,
    run_from_dir,
)
from cnnlab.runs.weights import load_into_run, load_weights_file

_LAZY = {
    **dict.fromkeys(("LiveView", "build_view", "format_duration", "read_live"), "live"),
    **dict.fromkeys(
        ("COMPARE_METRICS", "Comparison", "compare_runs", "run_title", "runs_frame", "short_name")
        + ("short_title",),
        "tables",
    ),
}


def __getattr__(name: str) -> Any:
    """`cnnlab.runs.<name>` for the names of `live` and `tables`, imported on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'cnnlab.runs' has no attribute {name!r}")
    value = getattr(import_module(f"cnnlab.runs.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIVE",
    "AccessDenied",
    "RunOwner",
    "rename_run",
    "COMPARE_METRICS",
    "DELETABLE",
    "FINISHED",
    "RESUMABLE",
    "STATUSES",
    "Comparison",
    "History",
    "LiveView",
    "LoadedModel",
    "Run",
    "RunImportError",
    "RunInfo",
    "RunNotFound",
    "RunStatus",
    "Status",
    "WeightsError",
    "build_run_model",
    "build_view",
    "compare_runs",
    "create_run",
    "delete_run",
    "export_run_zip",
    "format_duration",
    "get_run",
    "history_from_events",
    "import_run_zip",
    "latest_run",
    "list_runs",
    "load_into_run",
    "load_model",
    "load_state",
    "load_weights_file",
    "read_live",
    "resolve_runs_dir",
    "run_from_dir",
    "run_history",
    "run_title",
    "runs_frame",
    "short_name",
    "short_title",
]
