"""New dataset versions from the suspects: a label patch on top of the run's own, and the config
that retrains the run on it (same everything else, so the two runs compare like for like)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cnnlab.config import LabelPatch, RunConfig
from cnnlab.data.patch import compose, summary
from cnnlab.mislabels.rank import Suspects

ACTIONS = ("relabel", "drop")  # what `suspects_patch` does with the suspects it takes


def version_patch(
    cfg: RunConfig,
    labels: np.ndarray,
    relabel: Mapping[int, int],
    drop: set[int] | frozenset[int],
    run_id: str,
) -> LabelPatch:
    """The run's patch plus `relabel` {position: class} and `drop` {position}, positions in the
    run's (patched) train split whose labels are `labels` (N,); named after the run."""
    patch = compose(cfg.data.patch, labels, relabel, drop, base_run=run_id)
    return dataclasses.replace(patch, name=f"{summary(patch)} (from run {run_id})")


def suspects_patch(
    cfg: RunConfig,
    labels: np.ndarray,
    suspects: Suspects,
    run_id: str,
    *,
    top: int,
    action: str = "relabel",
    flagged_only: bool = True,
) -> LabelPatch:
    """A patch that relabels each of the `top` suspects to its predicted class, or drops them
    (`action`); `flagged_only`: only those cleanlab's filter flags (the CLI's --write-patch)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: {' or '.join(ACTIONS)}")
    rows = suspects.top(top)
    if flagged_only:
        rows = rows[rows["flagged"]]
    positions = [int(i) for i in rows["index"]]
    if action == "drop":
        return version_patch(cfg, labels, {}, set(positions), run_id)
    relabel = dict(zip(positions, (int(k) for k in rows["predicted_class"]), strict=True))
    return version_patch(cfg, labels, relabel, set(), run_id)


def retrain_config(cfg: RunConfig, patch: LabelPatch, run_id: str) -> RunConfig:
    """`cfg` trained on the new version: only the patch and the note change."""
    data = dataclasses.replace(cfg.data, patch=patch)
    return dataclasses.replace(cfg, data=data, note=f"labels: {patch.name or summary(patch)}"[:200])


def retrained_from(run_id: str, runs_dir: str | Path | None = None) -> list[str]:
    """Ids of the runs trained on a label version made from `run_id`'s suspects (newest first):
    the link back is the patch's `base_run`, inside each run's own config (nothing else kept)."""
    from cnnlab.runs import get_run, list_runs

    found = []
    for info in list_runs(runs_dir):
        try:
            patch = get_run(info.run_id, runs_dir).config().data.patch
        except (ValueError, KeyError):  # a damaged run is listed as failed elsewhere
            continue
        if patch.base_run == run_id and info.run_id != run_id:
            found.append(info.run_id)
    return found
