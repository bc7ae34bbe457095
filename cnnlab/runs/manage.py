"""Changing a run on someone's behalf: delete and rename, each checked against its owner
(`cnnlab.runs.access`); stop and resume go through the job manager, which checks the same way."""

from __future__ import annotations

import shutil
from pathlib import Path

from cnnlab.classroom.identity import Identity
from cnnlab.runs.access import check_manage
from cnnlab.runs.status import ACTIVE
from cnnlab.runs.store import get_run


def delete_run(
    run_id: str, runs_dir: str | Path | None = None, actor: Identity | None = None
) -> None:
    """Remove a run folder; an active run must be stopped first (ValueError); only its owner or
    the teacher may (AccessDenied; `actor=None` is a trusted caller such as the CLI)."""
    run = get_run(run_id, runs_dir)
    check_manage(actor, run.owner(), "delete", run_id)
    state = run.status().status
    if state in ACTIVE:
        raise ValueError(f"run {run_id} is {state}: stop it before deleting")
    shutil.rmtree(run.path)


MAX_RUN_NAME = 60  # characters


def rename_run(
    run_id: str, name: str, runs_dir: str | Path | None = None, actor: Identity | None = None
) -> str:
    """Give a run a name (shown beside its label; "" clears it); owner or teacher only. Returns
    the cleaned name; ValueError for one that is too long."""
    run = get_run(run_id, runs_dir)
    check_manage(actor, run.owner(), "rename", run_id)
    clean = " ".join(str(name or "").split())
    if len(clean) > MAX_RUN_NAME:
        raise ValueError(f"A run name has at most {MAX_RUN_NAME} characters ({len(clean)} given).")
    run.update_status(name=clean)
    return clean
