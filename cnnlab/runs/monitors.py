"""What watches a run from inside its training loop, by name: snapshots, norms, ...

A monitor kind registers a factory here, beside its code, once:

    @MONITORS.register("snapshots")
    def _snapshots(run: Run, cfg: RunConfig, dataset: ImageDataset, resume: bool) -> Monitor | None:
        ...  # None = not for this run (e.g. turned off in its config)

`runner.execute_run` builds every registered monitor for the run it trains (`build_monitors`)
and hands them to `cnnlab.training.train`. A monitor writes what it measures into the run
folder (its own files, atomically, or events through `Run.append_events`); readers tolerate a
run without them (older runs, monitors turned off).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from cnnlab.registry import Registry

MonitorFactory = Callable[[Any, Any, Any, bool], Any]  # (Run, RunConfig, ImageDataset, resume)
MONITORS: Registry[MonitorFactory] = Registry("monitor")

# Modules that register monitors; imported by `build_monitors` (they import torch).
MONITOR_MODULES: tuple[str, ...] = ("cnnlab.watch.monitor", "cnnlab.norms")


def build_monitors(run: Any, cfg: Any, dataset: Any, resume: bool) -> list[Any]:
    """Every registered monitor that applies to this run (a factory returning None is skipped)."""
    for module in MONITOR_MODULES:
        import_module(module)
    monitors = []
    for _name, factory in MONITORS.items():
        monitor = factory(run, cfg, dataset, resume)
        if monitor is not None:
            monitors.append(monitor)
    return monitors
