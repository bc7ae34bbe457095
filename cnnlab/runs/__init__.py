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
"""

from cnnlab.runs.archive import RunImportError, export_run_zip, import_run_zip
from cnnlab.runs.history import History, history_from_events, run_history
from cnnlab.runs.live import LiveView, build_view, format_duration, read_live
from cnnlab.runs.loading import LoadedModel, WeightsError, build_run_model, load_model, load_state
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
    delete_run,
    get_run,
    latest_run,
    list_runs,
    resolve_runs_dir,
    run_from_dir,
)
from cnnlab.runs.tables import (
    COMPARE_METRICS,
    Comparison,
    compare_runs,
    run_title,
    runs_frame,
    short_name,
    short_title,
)
from cnnlab.runs.weights import load_into_run, load_weights_file

__all__ = [
    "ACTIVE",
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
