"""`train` flags derived from the config dataclasses: one flag per RunConfig setting, at any depth.

Scheme: `--<section>.<field>` with dashes for underscores, nested dataclasses adding a dot per
level: `--train.lr`, `--train.batch-size`, `--data.image-size`, `--augment.hflip` /
`--no-augment.hflip`, `--data.shapes.num-images` (a dataclass nested in DataConfig). Top-level
fields keep their name (`--note`). The short flags people already type are aliases (`ALIASES`).
A new config field gets its flag with no code here; its help is the field's comment in
cnnlab/config.py plus its range. `model.spec` (a custom network) comes from `--config` only.

Absent flags are absent from the namespace (default SUPPRESS), so a flag given overrides the
recipe or `--config`, and nothing else does.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from cnnlab.config import RunConfig

DEST = "set:"  # argparse dest prefix of config settings: "set:train.lr"
SKIP = {"model.spec", "data.patch"}  # from --config only (nested lists); data.patch: --patch too
ALIASES = {  # setting -> the short flag kept from the first CLI
    "data.name": "--dataset",
    "data.path": "--path",
    "data.root": "--root",
    "data.image_size": "--image-size",
    "data.limit": "--limit",
    "model.name": "--model",
    "model.init_from": "--from-run",  # fine-tuning (cnnlab/cli/finetune.py)
    "model.freeze_up_to": "--freeze-up-to",
    "train.epochs": "--epochs",
    "train.lr": "--lr",
    "train.batch_size": "--batch-size",
    "train.optimizer": "--optimizer",
    "train.schedule": "--schedule",
    "train.weight_decay": "--weight-decay",
    "train.label_smoothing": "--label-smoothing",
    "train.early_stopping": "--early-stopping",
    "train.seed": "--seed",
    "train.threads": "--threads",
    "train.device": "--device",
    "train.nproc": "--nproc",
}
SCALARS = (bool, int, float, str)


@dataclass(frozen=True)
class Setting:
    """One leaf field of RunConfig."""

    path: str  # "train.lr"
    hint: Any  # the field's type
    field: dataclasses.Field  # type: ignore[type-arg]
    comment: str  # the field's comment in cnnlab/config.py

    @property
    def flag(self) -> str:
        return "--" + self.path.replace("_", "-")


@cache
def _comments(cls: type) -> dict[str, str]:
    """Field name -> its trailing comment in the class source ("" when the source is missing)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found = re.findall(r"^\s+(\w+): [^#\n]*#\s*(.+)$", source, flags=re.MULTILINE)
    return dict(found)


def _leaf_type(hint: Any) -> Any:
    """The scalar or tuple type a flag can parse, or None (an X | None field parses as X)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        hint = options[0] if len(options) == 1 else None
    if hint in SCALARS:
        return hint
    if typing.get_origin(hint) is tuple and all(
        a in SCALARS or a is Ellipsis for a in typing.get_args(hint)
    ):
        return hint
    return None


def settings(cls: type = RunConfig, prefix: str = "") -> list[Setting]:
    """Every settable leaf of `cls`, depth first, in declaration order."""
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        path, hint = prefix + f.name, hints[f.name]
        if path in SKIP:
            continue
        if dataclasses.is_dataclass(hint):
            found += settings(hint, path + ".")  # type: ignore[arg-type]
        elif _leaf_type(hint) is not None:
            found.append(Setting(path, _leaf_type(hint), f, _comments(cls).get(f.name, "")))
    return found


def _help(s: Setting) -> str:
    from cnnlab.schema import range_text

    rng = s.field.metadata.get("range")
    parts = [s.comment] if s.comment else []
    if rng is not None:
        parts.append(f"must be {range_text(rng)}")
    return "; ".join(parts) or s.path


def _kwargs(s: Setting, registries: bool) -> dict[str, Any]:
    kw: dict[str, Any] = {"dest": DEST + s.path, "default": argparse.SUPPRESS, "help": _help(s)}
    hint = s.hint
    if hint is bool:
        return {**kw, "action": argparse.BooleanOptionalAction}
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        kw["nargs"] = "+" if args[-1] is Ellipsis else len(args)
        hint = args[0]
    kw["type"] = hint
    kw["metavar"] = {int: "N", float: "X", str: "TEXT"}[hint]
    choices = s.field.metadata.get("choices")
    kind = s.field.metadata.get("registry")
    if kind and registries:
        from cnnlab.schema import registry_of

        choices = registry_of(kind).names()
    if choices:
        kw["choices"], kw["metavar"] = list(choices), "NAME"
        kw["help"] += "; one of: " + ", ".join(choices)
    return kw


def add_setting_flags(parser: argparse.ArgumentParser, registries: bool) -> None:
    """One flag per setting (+ its alias), in groups per section; choices from the registries
    when `registries` (that imports torch: only the `train` command asks for it)."""
    groups: dict[str, Any] = {}
    for s in settings():
        section = s.path.split(".")[0] if "." in s.path else "run"
        if section not in groups:
            groups[section] = parser.add_argument_group(f"{section} settings")
        names = [s.flag] + ([ALIASES[s.path]] if s.path in ALIASES else [])
        groups[section].add_argument(*names, **_kwargs(s, registries))


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line: {"train.lr": 0.01, ...}."""
    return {k[len(DEST) :]: v for k, v in vars(args).items() if k.startswith(DEST)}


def apply(config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config dict `config` with dotted `values` set (tuples as lists)."""
    out = _copy(config)
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return list(value) if isinstance(value, (list, tuple)) else value
