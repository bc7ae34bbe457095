"""A fair queue: which waiting run starts next when many people share the job slots.

Round-robin across owners: the next run is the oldest one of the owner with the fewest runs
training now, ties going to the owner whose last run started longest ago (never = first). So one
student's five quick starts wait behind everyone else's first, and with one owner (the laptop
lab) it is plain first come, first served. `projected_starts` replays that rule forward with
estimated durations to say where each waiting run stands and when it should start.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cnnlab.config import RunConfig


@dataclass(frozen=True)
class QueueEntry:
    run_id: str
    resume: bool
    owner: str  # RunOwner.user_id


def next_index(
    queue: list[QueueEntry], active_owners: Iterable[str], last_start: dict[str, float]
) -> int:
    """Index in `queue` of the run to start next (see the module docstring); queue not empty."""
    training = Counter(active_owners)
    return min(
        range(len(queue)),
        key=lambda i: (training[queue[i].owner], last_start.get(queue[i].owner, -math.inf), i),
    )


@dataclass(frozen=True)
class Projection:
    run_id: str
    position: int  # 1 = starts next
    start_in_s: float | None  # seconds from now; None when a duration ahead of it is unknown


def projected_starts(
    queue: list[QueueEntry],
    active: list[tuple[str, float | None]],
    slots: int,
    duration_s: Callable[[QueueEntry], float | None],
    last_start: dict[str, float],
) -> list[Projection]:
    """The start order and expected start times of `queue`, given the `active` runs (owner,
    seconds left or None) and `slots` parallel jobs, by replaying `next_index` forward."""
    running = [(left, owner) for owner, left in active]  # (seconds left | None, owner)
    waiting, served = list(queue), dict(last_start)
    out: list[Projection] = []
    clock: float | None = 0.0
    while waiting:
        if len(running) >= max(1, slots):  # wait for the first job to end
            known = [r for r in running if r[0] is not None]
            if len(known) < len(running):
                clock = None  # an unknown duration ahead: the start time is unknown
            ended = min(known, key=lambda r: r[0]) if known else running[0]
            running.remove(ended)
            step = ended[0] or 0.0
            clock = None if clock is None else clock + step
            running = [(None if t is None else t - step, o) for t, o in running]
            continue
        i = next_index(waiting, (o for _, o in running), served)
        entry = waiting.pop(i)
        out.append(Projection(entry.run_id, len(out) + 1, clock))
        served[entry.owner] = max(served.values(), default=0.0) + 1.0  # the latest served
        running.append((duration_s(entry), entry.owner))
    return out


class EpochTimes:
    """Seconds per epoch of runs that trained here, per (dataset, model, image size): what the
    queue's expected start times are made of (unknown until a run like it has finished)."""

    def __init__(self) -> None:
        self._per_epoch: dict[tuple[str, str, int], float] = {}

    @staticmethod
    def _key(cfg: RunConfig) -> tuple[str, str, int]:
        return (cfg.data.name, cfg.model.name, cfg.data.image_size)

    def learn(self, cfg: RunConfig, seconds_per_epoch: float) -> None:
        self._per_epoch[self._key(cfg)] = seconds_per_epoch

    def estimate(self, cfg: RunConfig) -> float | None:
        """Expected training seconds of `cfg`, capped by its time limit; None when unknown."""
        per_epoch = self._per_epoch.get(self._key(cfg))
        if per_epoch is None:
            return None
        seconds = per_epoch * cfg.train.epochs
        return min(seconds, cfg.train.time_limit_s) if cfg.train.time_limit_s else seconds
