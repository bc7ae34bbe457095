"""The events a training run emits, as types: one way to write them and one way to read them.

A run's `events.jsonl` holds one JSON object per line, `{"type": <kind>, ...fields}`. The engine
(`cnnlab.training`) emits these dataclasses; the job appends them; the live view, the plots, the
CLI and the Runs page read them back with `read_events` / `parse_event`, never as raw dicts.

Reading is tolerant, as it must be for a file another process is appending to:
- a torn last line (a writer mid-write or killed) is left for the next read (offsets are bytes);
- a damaged line, a line that is not an object, or an event of an unknown kind is skipped
  (an older app reading a newer run's snapshot events must not break);
- missing fields take their defaults, unknown fields are ignored, non-finite numbers are None.

New kinds (wave 2: per-epoch snapshots, embeddings) register with `@event_kind("name")`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cnnlab.jsonio import dumps

E = TypeVar("E")
EVENT_KINDS: dict[str, type] = {}  # kind name -> event dataclass


def event_kind(name: str) -> Callable[[type[E]], type[E]]:
    """Class decorator: register an event dataclass under `name` (its JSON "type")."""

    def register(cls: type[E]) -> type[E]:
        if name in EVENT_KINDS:
            raise ValueError(f"event kind {name!r} is registered twice")
        cls.kind = name  # type: ignore[attr-defined]
        EVENT_KINDS[name] = cls
        return cls

    return register


@event_kind("start")
@dataclass(frozen=True)
class StartEvent:
    """Training (re)starts: sizes and where it runs. A resumed run emits a new one."""

    epochs: int = 0  # epochs the run will train in all
    steps_per_epoch: int = 0
    total_steps: int = 0  # epochs * steps_per_epoch
    train_size: int = 0  # training images
    batch_size: int = 0
    device: str = ""
    threads: int = 0
    precision: str = ""
    resumed_epoch: int = 0  # epochs already done when this pass started (0 = fresh run)
    time: float = 0.0  # unix seconds, stamped when the event is written


@event_kind("batch")
@dataclass(frozen=True)
class BatchEvent:
    """One optimiser step, rate-limited (see TrainConfig.batch_events_per_s)."""

    epoch: int = 0  # 1-based
    step: int = 0  # optimiser steps done in the whole run
    loss: float | None = None  # the batch's loss (None when it was NaN/inf)
    acc: float | None = None  # the batch's accuracy, [0, 1]
    lr: float | None = None
    images_per_s: float | None = None  # throughput since the previous batch event
    elapsed: float | None = None  # seconds of training, earlier passes included
    eta: float | None = None  # seconds left, the engine's estimate
    time: float = 0.0


@event_kind("epoch")
@dataclass(frozen=True)
class EpochEvent:
    """One epoch validated."""

    epoch: int = 0
    step: int = 0
    partial: bool = False  # stopped inside the epoch: train_* cover the part trained
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    lr: float | None = None
    elapsed: float | None = None
    best: bool = False  # the best validation loss so far (these weights are kept)
    eta: float | None = None
    time: float = 0.0
    # validation accuracy per class (index = class), [0, 1]; None for a class without validation
    # images; () in runs recorded before it existed
    val_class_acc: tuple[float | None, ...] = ()


@event_kind("end")
@dataclass(frozen=True)
class EndEvent:
    """Training is over (finished, stopped or diverged); a failure is in status.json instead."""

    status: str = "finished"
    message: str = ""
    best_epoch: int = 0
    best_val_acc: float | None = None
    elapsed: float | None = None
    time: float = 0.0


@event_kind("download")
@dataclass(frozen=True)
class DownloadEvent:
    """A file fetched before training (ImageNet weights: `cnnlab.finetune`), a few per second."""

    file: str = ""  # its name, e.g. resnet18-f37072fd.pth
    done_bytes: int = 0
    total_bytes: int = 0  # 0 = the server did not say
    time: float = 0.0


@event_kind("norms")
@dataclass(frozen=True)
class NormsEvent:
    """Weight and gradient L2 norms per layer after one optimiser step (`cnnlab.norms`), every
    `WatchConfig.norms_every` steps. `layers[i]` owns the parameters measured in `weight[i]`
    (all of that module's own parameters together) and `grad[i]` (their gradients)."""

    epoch: int = 0  # 1-based
    step: int = 0  # optimiser steps done in the whole run
    layers: tuple[str, ...] = ()  # qualified module names, in the model's order
    weight: tuple[float | None, ...] = ()  # L2 norm of each layer's parameters
    grad: tuple[float | None, ...] = ()  # L2 norm of their gradients (None: no gradient)
    time: float = 0.0


Event = StartEvent | BatchEvent | EpochEvent | EndEvent  # plus any kind registered later


def kind_of(event: Any) -> str:
    return type(event).kind


def to_dict(event: Any) -> dict[str, Any]:
    """The JSON object of one event: `{"type": kind, **fields}`."""
    return {"type": kind_of(event), **dataclasses.asdict(event)}


def encode(events: Iterable[Any]) -> bytes:
    """Events as JSON lines (NaN/inf written as null)."""
    return "".join(dumps(to_dict(e)) + "\n" for e in events).encode()


def _coerce(value: Any, hint: Any, default: Any) -> Any:
    """`value` made to fit the field's type, or `default` when it cannot."""
    if typing.get_origin(hint) is tuple:  # tuple[X, ...] fields arrive as JSON lists
        if not isinstance(value, list):
            return default
        item = typing.get_args(hint)[0]
        return tuple(_coerce(v, item, None) for v in value)
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        return None if type(None) in allowed else default
    if bool in allowed:
        return value if isinstance(value, bool) else default
    if isinstance(value, bool):
        return default
    if int in allowed and isinstance(value, (int, float)) and math.isfinite(value):
        return int(value)
    if float in allowed and isinstance(value, (int, float)):
        value = float(value)
        if math.isfinite(value):
            return value
        return None if type(None) in allowed else default
    if str in allowed:
        return value if isinstance(value, str) else str(value)
    return default


def parse_event(obj: Any) -> Any | None:
    """The event a JSON object describes, or None (not an object, or an unknown kind)."""
    if not isinstance(obj, dict):
        return None
    cls = EVENT_KINDS.get(obj.get("type"))  # type: ignore[arg-type]
    if cls is None:
        return None
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in dataclasses.fields(cls):
        if f.name in obj:
            fields[f.name] = _coerce(obj[f.name], hints[f.name], f.default)
    return cls(**fields)


def parse_lines(chunk: bytes) -> list[Any]:
    """Every event in complete JSON lines; damaged and unknown lines are skipped."""
    events = []
    for line in chunk.splitlines():
        try:
            event = parse_event(json.loads(line))
        except ValueError:
            continue  # a damaged line never breaks the reader
        if event is not None:
            events.append(event)
    return events


def append_events(path: Path, events: Iterable[Any]) -> None:
    """Append events to a JSON-lines file in one write, so a reader never sees a torn line.

    A writer killed mid-line leaves a torn line behind: it is ended first, so it stays one
    damaged (skipped) line instead of corrupting the next event.
    """
    data = encode(events)
    if not data:
        return
    with open(path, "a+b") as f:
        if f.seek(0, os.SEEK_END) > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                data = b"\n" + data
        f.write(data)
        f.flush()


def read_events(path: Path, offset: int = 0) -> tuple[list[Any], int]:
    """Events after byte `offset`, and the offset to pass next time (a partial line waits)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1  # only whole lines; a line being written is read next time
    return parse_lines(chunk[:end]), offset + end


def of_kind(events: Iterable[Any], cls: type[E]) -> list[E]:
    """The events of one kind, in order."""
    return [e for e in events if isinstance(e, cls)]


def latest_pass(events: Iterable[E], key: str) -> list[E]:
    """Events ordered by the numeric attribute `key`, keeping only the latest pass over each
    value: a resumed run re-emits steps (and epochs) from its checkpoint on, so read backwards and
    keep strictly decreasing keys. The one rule for every curve and count of a run's history."""
    kept: list[E] = []
    for event in reversed(list(events)):
        value = getattr(event, key, None)
        if value is None:
            continue
        if not kept or value < getattr(kept[-1], key):
            kept.append(event)
    return kept[::-1]
