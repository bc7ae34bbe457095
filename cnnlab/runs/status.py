"""A run's status: the lifecycle states, the sets pages ask about, and the typed status record.

```
queued -> running -> finished | stopped | diverged | failed | interrupted
             ^                     |                   |          |
             +------ resume -------+-------------------+----------+   (needs a checkpoint)
```
`RunStatus` is what the run folder's status file holds, read tolerantly (a missing, damaged or
ill-typed file reads as a failed run with a message; unknown keys are ignored).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Where a run is in its life; a `str`, so `Status.RUNNING == "running"`."""

    QUEUED = "queued"  # waiting for a free job slot
    RUNNING = "running"  # a job process is loading data, training, saving or testing
    FINISHED = "finished"  # trained every epoch (or stopped early by early stopping)
    STOPPED = "stopped"  # stopped by request; the best weights so far are kept
    DIVERGED = "diverged"  # the loss became NaN/inf; the last finite best weights are kept
    FAILED = "failed"  # an error, a killed process or a damaged folder (message says which)
    INTERRUPTED = "interrupted"  # the server or the job went away mid-training


STATUSES = tuple(Status)
ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})  # a job owns the run: keep refreshing
FINISHED = frozenset({Status.FINISHED, Status.STOPPED, Status.INTERRUPTED, Status.DIVERGED})
# ^ training ended with a result: the run may have weights and a test accuracy
RESUMABLE = frozenset({Status.INTERRUPTED, Status.FAILED, Status.STOPPED})  # with a checkpoint
DELETABLE = frozenset(Status) - ACTIVE  # an active run is stopped first


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class RunStatus:
    """The status file of one run: lifecycle state, timing, and the latest progress figures."""

    status: Status = Status.FAILED
    message: str = ""
    created: float | None = None  # unix seconds
    started: float | None = None  # when training (first) started; kept across resumes
    ended: float | None = None  # None while active
    updated: float | None = None  # last write
    pid: int | None = None  # the job process while running
    ending: bool = False  # the training loop is over: saving weights and testing
    error_kind: str = ""  # "data_unavailable" for a missing dataset, else "" or "error"
    name: str = ""  # what its owner named it (store.rename_run)
    executor_job: str = ""  # the Ray job training it (CNNLAB_EXECUTOR=ray); "" = a local process
    # progress, refreshed a few times a second while training
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    total_steps: int = 0
    progress: float = 0.0  # [0, 1]
    loss: float | None = None
    eta: float | None = None  # seconds
    images_per_s: float | None = None
    lr: float | None = None
    val_acc: float | None = None
    val_loss: float | None = None
    best_val_acc: float | None = None
    test_acc: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def duration_s(self) -> float | None:
        """Seconds from the first start to the end (or to `now` while it trains)."""
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    @classmethod
    def from_dict(cls, data: Any) -> RunStatus:
        """The record from a parsed status file; anything unusable reads as a failed run."""
        if not isinstance(data, dict) or not data:
            return cls(Status.FAILED, "the run's status file is missing or damaged")
        try:
            status = Status(data.get("status"))
        except ValueError:
            return cls(Status.FAILED, f"unknown status {data.get('status')!r}")
        fields: dict[str, Any] = {"status": status}
        for f in dataclasses.fields(cls)[1:]:
            value = data.get(f.name)
            if value is None:
                continue
            if f.type == "str":
                fields[f.name] = str(value)
            elif f.type == "bool":
                fields[f.name] = bool(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                number = _number(value)  # NaN/inf (a diverged run's loss) read as unknown
                if number is not None:
                    fields[f.name] = int(number) if f.type in ("int", "int | None") else number
            else:
                return cls(Status.FAILED, f"the run's status file is damaged ({f.name}={value!r})")
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
