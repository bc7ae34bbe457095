"""One schema for run configs: types from the config dataclasses' annotations, ranges and names
from their field metadata (`cnnlab.config.ranged` / `named` / `editable`).

Every way into a run reads its config through here: `config.json` (`run_config_from_dict`), the
CLI's flags and `--config`, the Train form (`startconfig.run_config`) and imported run zips.
Rules (generic over nested dataclasses, so new fields need no code here):

- a missing field takes its default (an older config.json); an unknown key is ignored (a newer one);
- bool wants true/false; int wants an integer (3.0 is accepted as 3, "3" is not: a string in a
  number field is a mistake to name, not to guess); float wants a finite number; str a string;
  tuples want lists; a nested dataclass wants an object;
- `Range` metadata bounds numbers, `choices` fixes strings; registry names (dataset, model,
  optimizer, ...) are checked by `check_names` where a run starts (a saved run whose model was
  renamed since can still be listed).

Problems are collected, not stopped at the first: `ConfigError` lists each as
`train.lr: must be > 0, got -1`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, TypeVar

from cnnlab.config import Range

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that does not fit the schema; `problems` names each field and what it allows."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def build(cls: type[T], data: Any) -> T:
    """Dataclass `cls` from JSON-like `data`, validated; ConfigError lists every problem."""
    problems: list[str] = []
    value = _dataclass(cls, data, "", problems)
    if problems:
        raise ConfigError(problems)
    return value


def check(config: Any) -> None:
    """Validate a config dataclass instance (e.g. one built with `dataclasses.replace`)."""
    build(type(config), dataclasses.asdict(config))


def _show(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _dataclass(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    if not isinstance(data, dict):
        problems.append(f"{where or cls.__name__}: expected an object, got {_show(data)}")
        return None
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data or not f.init:
            continue
        path = _join(where, f.name)
        before = len(problems)
        value = _typed(hints[f.name], data[f.name], path, problems)
        if len(problems) == before:
            problem = _allowed(f.metadata, value)
            if problem:
                problems.append(f"{path}: {problem}, got {_show(data[f.name])}")
            kwargs[f.name] = value
    if len(problems):
        return None  # the caller raises: nothing is built from a config with problems
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a dataclass's own checks (__post_init__)
        problems.append(f"{where or cls.__name__}: {exc}")
        return None


def _typed(hint: Any, value: Any, where: str, problems: list[str]) -> Any:
    """`value` as type `hint`, or a problem appended (the returned value is then unused)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, value, where, problems)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(o for o in options if o is not type(None))
        origin = typing.get_origin(hint)
        if dataclasses.is_dataclass(hint):  # `DataConfig | None` (a lesson's dataset)
            return _dataclass(hint, value, where, problems)  # type: ignore[arg-type]
    if origin is tuple:
        return _tuple(hint, value, where, problems)
    converted, expected = _scalar(hint, value)
    if expected:
        problems.append(f"{where}: expected {expected}, got {_show(value)}")
    return converted


def _scalar(hint: Any, value: Any) -> tuple[Any, str]:
    """(converted value, "" ) or (None, what was expected)."""
    if hint is bool:
        return (value, "") if isinstance(value, bool) else (None, "true or false")
    if hint is int:
        integral = isinstance(value, float) and math.isfinite(value) and value.is_integer()
        if isinstance(value, int) and not isinstance(value, bool) or integral:
            return int(value), ""
        return None, "an integer"
    if hint is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and math.isfinite(value):
            return float(value), ""
        return None, "a finite number"
    if hint is str:
        return (value, "") if isinstance(value, str) else (None, "a string")
    return value, ""  # Any and types the schema does not know: passed through


def _tuple(hint: Any, value: Any, where: str, problems: list[str]) -> Any:
    if not isinstance(value, (list, tuple)):
        problems.append(f"{where}: expected a list, got {_show(value)}")
        return None
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        args = (args[0],) * len(value)
    elif len(args) != len(value):
        problems.append(f"{where}: expected a list of {len(args)} items, got {len(value)}")
        return None
    pairs = enumerate(zip(args, value, strict=True))
    return tuple(_typed(a, v, f"{where}[{i}]", problems) for i, (a, v) in pairs)


def _allowed(metadata: Any, value: Any) -> str:
    """What the field's metadata allows when `value` is outside it, else ""."""
    rng = metadata.get("range")
    ui = metadata.get("ui") or {}
    if rng is None and "range" in ui:  # the block editor's (min, max, step)
        rng = Range(ui["range"][0], ui["range"][1])
    choices = metadata.get("choices") or ui.get("choices")
    if rng is not None and isinstance(value, (int, float)) and not _inside(rng, value):
        return f"must be {range_text(rng)}"
    if choices and value not in choices:
        return "must be one of " + ", ".join(_show(c) for c in choices)
    return ""


def _inside(rng: Range, value: float) -> bool:
    low_ok = rng.lo is None or (value > rng.lo if rng.lo_open else value >= rng.lo)
    high_ok = rng.hi is None or (value < rng.hi if rng.hi_open else value <= rng.hi)
    return low_ok and high_ok


def range_text(rng: Range) -> str:
    """The text of a Range: "> 0", ">= 1", "between 0 and 1", "in [0, 1)" for a Range (help texts, messages)."""
    lo, hi = (f"{v:g}" if isinstance(v, float) else str(v) for v in (rng.lo, rng.hi))
    if rng.hi is None:
        return f"> {lo}" if rng.lo_open else f">= {lo}"
    if rng.lo is None:
        return f"< {hi}" if rng.hi_open else f"<= {hi}"
    if not (rng.lo_open or rng.hi_open):
        return f"between {lo} and {hi}"
    return f"in {'(' if rng.lo_open else '['}{lo}, {hi}{')' if rng.hi_open else ']'}"


def registry_of(kind: str) -> Any:
    """The registry behind `named(..., registry=kind)` (imported on demand: they pull in torch)."""
    if kind == "dataset":
        from cnnlab.data import DATASETS

        return DATASETS
    if kind in ("optimizer", "schedule"):
        from cnnlab import optim

        return optim.OPTIMIZERS if kind == "optimizer" else optim.SCHEDULES
    from cnnlab import models

    return {"model": models.MODELS, "activation": models.ACTIVATIONS, "pooling": models.POOLS}[kind]


def name_problems(config: Any, where: str = "") -> list[str]:
    """Registry names in `config` (at any depth) that are not registered, one message each."""
    problems = []
    for f in dataclasses.fields(config):
        value, path = getattr(config, f.name), _join(where, f.name)
        kind = f.metadata.get("registry") or (f.metadata.get("ui") or {}).get("registry")
        if kind and value not in registry_of(kind):
            known = ", ".join(registry_of(kind).names())
            problems.append(f"{path}: unknown {kind} {_show(value)}; choose one of: {known}")
        items = value if isinstance(value, tuple) else (value,)
        for i, item in enumerate(items):
            if dataclasses.is_dataclass(item):
                sub = f"{path}[{i}]" if isinstance(value, tuple) else path
                problems += name_problems(item, sub)
    return problems


def check_names(config: Any) -> None:
    """ConfigError when a registry name in `config` is unknown (where a run is about to start)."""
    problems = name_problems(config)
    if problems:
        raise ConfigError(problems)


def validated(config: T) -> T:
    """`config` after `check` and `check_names` (types, ranges and registry names)."""
    check(config)
    check_names(config)
    return config
