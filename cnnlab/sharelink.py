"""Share links: the lab's state (dataset, model, hyperparameters, view) as URL query parameters.

A link opens the same view in a fresh browser and a refresh keeps it. Simple values are readable
parameters (`data=mnist&lr=0.01&epochs=5`); structured ones (a custom network, the rarer dataset
fields) are one compact parameter each: JSON of the fields that differ from the defaults ->
zlib -> base64url (`net=eJy...`). Only what differs from the defaults is written, so a link stays
short (a 12-block network: a few hundred characters).

Decoding never trusts the link: every value goes through `cnnlab.schema` (types, ranges, registry
names); a part that does not fit is dropped (its default is kept) and named in `problems`. A link
carries no identity, key or server path: a dataset from a folder or an upload is not shared.

Parameters (values: see `SharedState`):

| param | what | e.g. |
|---|---|---|
| data | built-in dataset name | `cifar10` |
| level, size | shapes difficulty 0..3; image side, pixels (0 = the set's default) | `3`, `48` |
| dx | other DataConfig fields that differ from the defaults (blob) | |
| model, width, imagenet | preset name or `custom`; width multiplier; `0` = no ImageNet weights | |
| mirror | `1` = the model predicts with the mirror too (ModelConfig.flip_tta) | |
| shift | `1` = ... and with the image moved 1 pixel (ModelConfig.shift_tta) | |
| net | the custom network in the Model page's editor (blob of a ModelSpec) | |
| mnet | the custom network in use, when it differs from `net` (blob) | |
| optimizer ... augment | the Train form's fields (`TRAIN_FIELDS`); augment `1`/`0` | `lr=0.01` |
| true, pred | Evaluate's confusion-matrix cell (class names) | |
| tab, kernel | the Learn page's tab (1..10) and its convolution kernel | `tab=2` |
| _lock, _hide | comma lists of `CONTROLS` shown disabled / not shown | `_lock=lr,epochs` |
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import typing
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnnlab.config import ConvBlock, DataConfig, ModelConfig, ModelSpec, ShapesConfig, TrainConfig
from cnnlab.schema import ConfigError, build, name_problems

# Train form fields carried by a link (TrainConfig names), then the form's augmentation toggle.
TRAIN_FIELDS = (
    "optimizer", "schedule", "lr", "weight_decay", "batch_size", "epochs", "label_smoothing",
    "seed", "early_stopping",
)  # fmt: skip
AUGMENT = "augment"
# Controls a link may lock or hide: the dataset choice, the network choice, the form's fields.
CONTROLS = ("data", "model", *TRAIN_FIELDS, AUGMENT)
VIEW_KEYS = ("true", "pred", "tab", "kernel")
DATA_KEYS = ("data", "level", "size", "dx")
MODEL_KEYS = ("model", "width", "imagenet", "mirror", "shift", "net", "mnet")
LOCK, HIDE = "_lock", "_hide"
KEYS = (*DATA_KEYS, *MODEL_KEYS, *TRAIN_FIELDS, AUGMENT, *VIEW_KEYS, LOCK, HIDE)
MAX_PARAM = 4000  # characters: a longer parameter is refused before decoding
MAX_JSON = 20_000  # bytes a blob may inflate to (a 12-block net is ~1.5 kB): no zip bombs
NUM_TABS = 10  # Learn page tabs (pages/ui/lessons.py TABS)
NOT_SHARED = ("root", "path", "name", "image_size")  # never in `dx`: server paths, own params


@dataclass(frozen=True)
class ViewState:
    """Where the user looks: Evaluate's cell (class names) and the Learn page's tab and kernel."""

    true_class: str | None = None
    pred_class: str | None = None
    tab: int | None = None  # 1..NUM_TABS
    kernel: str | None = None  # a `cnnlab.learn.KERNEL_NAMES` name


@dataclass(frozen=True)
class SharedState:
    """What a link carries; None / empty = not in the link (the receiver keeps its default)."""

    data: DataConfig | None = None
    model: ModelConfig | None = None
    editor_spec: ModelSpec | None = None  # the network in the custom editor
    train: Mapping[str, Any] = field(default_factory=dict)  # TRAIN_FIELDS name -> value
    augment: bool | None = None
    view: ViewState = field(default_factory=ViewState)
    lock: frozenset[str] = frozenset()  # CONTROLS shown disabled, their value from the link
    hide: frozenset[str] = frozenset()  # CONTROLS not shown, their value from the link


@dataclass(frozen=True)
class Decoded:
    state: SharedState
    problems: tuple[str, ...] = ()  # one message per part of the link that was not used


# -- blobs: JSON -> zlib -> base64url -----------------------------------------------------------
def pack(value: Any) -> str:
    """`value` (JSON-ready) as a short URL-safe text (no padding)."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def unpack(text: str) -> Any:
    """Inverse of `pack`; ValueError for text that is not one (or inflates past MAX_JSON)."""
    if len(text) > MAX_PARAM:
        raise ValueError(f"longer than {MAX_PARAM} characters")
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_JSON)
        if inflater.unconsumed_tail:
            raise ValueError(f"it inflates to more than {MAX_JSON} bytes")
        return json.loads(raw)
    except (binascii.Error, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("not a value this app wrote") from exc


def diff(value: Any, base: Any) -> dict[str, Any]:
    """The fields of dataclass `value` that differ from `base` (same type), JSON-ready."""
    return {
        f.name: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
        for f in dataclasses.fields(value)
        if (v := getattr(value, f.name)) != getattr(base, f.name)
    }


def spec_to_json(spec: ModelSpec) -> dict[str, Any]:
    """A ModelSpec as its differences from the defaults; each block as its own differences."""
    out = diff(spec, ModelSpec())
    out["blocks"] = [diff(block, ConvBlock()) for block in spec.blocks]
    out["hidden"] = list(spec.hidden)
    return out


def spec_from_json(data: Any) -> ModelSpec:
    """Inverse of `spec_to_json`, validated (ConfigError/ValueError naming the problem)."""
    from cnnlab.models.custom import MAX_BLOCKS, MAX_HIDDEN_LAYERS, MAX_UNITS

    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise ValueError("not a network description")
    if not 1 <= len(data["blocks"]) <= MAX_BLOCKS:
        raise ValueError(f"a network has 1 to {MAX_BLOCKS} conv blocks")
    hidden = data.get("hidden", [])
    if not isinstance(hidden, list) or len(hidden) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"at most {MAX_HIDDEN_LAYERS} dense layers")
    if any(not isinstance(u, int) or not 1 <= u <= MAX_UNITS for u in hidden):
        raise ValueError(f"dense layers have 1 to {MAX_UNITS} units")
    blocks = [build(ConvBlock, b) for b in data["blocks"]]
    spec = build(ModelSpec, {k: v for k, v in data.items() if k != "blocks"})
    spec = dataclasses.replace(spec, blocks=tuple(blocks))
    problems = name_problems(spec)
    if problems:
        raise ConfigError(problems)
    return spec


# -- encode ------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return f"{value:g}" if isinstance(value, float) else str(value)


def encode_data(data: DataConfig) -> dict[str, str]:
    """A built-in dataset's params (nothing for a folder or upload: its path is not shared)."""
    if data.name == "folder":
        return {}
    base = DataConfig(name=data.name)
    out = {"data": data.name} if data.name != DataConfig().name else {}
    if data.shapes.difficulty != base.shapes.difficulty:
        out["level"] = str(data.shapes.difficulty)
    if data.image_size != base.image_size:
        out["size"] = str(data.image_size)
    shapes = dataclasses.replace(data.shapes, difficulty=base.shapes.difficulty)
    rest = diff(dataclasses.replace(data, shapes=shapes), base)
    rest = {k: v for k, v in rest.items() if k not in NOT_SHARED}
    if "shapes" in rest:
        rest["shapes"] = diff(shapes, ShapesConfig())
    if rest:
        out["dx"] = pack(rest)
    return out


def encode_model(model: ModelConfig, editor: ModelSpec, base: ModelConfig) -> dict[str, str]:
    """The model's params (none when it is `base`, what a fresh session starts with) and the
    editor's network (none when it is the default)."""
    out: dict[str, str] = {}
    if model != base:
        out["model"] = model.name
    if model.width != 1.0:
        out["width"] = _text(model.width)
    if model.pretrained:  # off by default (fine-tuning settings are not shared: a run id is local)
        out["imagenet"] = "1"
    if model.flip_tta:
        out["mirror"] = "1"
    if model.shift_tta:
        out["shift"] = "1"
    if editor != ModelSpec():
        out["net"] = pack(spec_to_json(editor))
    if model.name == "custom" and model.spec != editor:
        out["mnet"] = pack(spec_to_json(model.spec))
    return out


def encode(
    state: SharedState,
    train_base: TrainConfig | None = None,
    model_base: ModelConfig | None = None,
) -> dict[str, str]:
    """The query parameters of `state`: train values equal to `train_base` (the recipe the
    receiver starts from) and a model equal to `model_base` (a fresh session's) are left out,
    as is everything at its default."""
    out: dict[str, str] = {}
    if state.data is not None:
        out |= encode_data(state.data)
    if state.model is not None:
        base = model_base or ModelConfig()
        out |= encode_model(state.model, state.editor_spec or ModelSpec(), base)
    base = train_base or TrainConfig()
    for name, value in state.train.items():
        if name in TRAIN_FIELDS and value != getattr(base, name):
            out[name] = _text(value)
    if state.augment is not None:
        out[AUGMENT] = _text(state.augment)
    view = state.view
    shown = {"true": view.true_class, "pred": view.pred_class, "tab": view.tab}
    out |= {k: str(v) for k, v in shown.items() if v is not None}
    if view.kernel is not None:
        out["kernel"] = view.kernel
    for key, names in ((LOCK, state.lock), (HIDE, state.hide)):
        if names:
            out[key] = ",".join(c for c in CONTROLS if c in names)
    return out


# -- decode ------------------------------------------------------------------------------------
def _typed(name: str, text: str, kind: type) -> Any:
    """`text` of a URL as `kind`; ValueError with what was expected."""
    if kind is bool:
        if text not in ("0", "1"):
            raise ValueError(f"{name}: expected 1 or 0, got {text[:20]!r}")
        return text == "1"
    try:
        value = kind(text)
    except ValueError:
        expected = {int: "an integer", float: "a number"}.get(kind, "a value")
        raise ValueError(f"{name}: expected {expected}, got {text[:20]!r}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {text[:20]!r}")
    return value


def _built(cls: type, data: dict[str, Any]) -> Any:
    """`cls` from `data` through the schema, registry names included (ConfigError)."""
    value = build(cls, data)
    problems = name_problems(value)
    if problems:
        raise ConfigError(problems)
    return value


def decode_data(params: Mapping[str, str]) -> DataConfig | None:
    """The dataset of a link (None when the link names none); ValueError naming the problem."""
    if not any(k in params for k in DATA_KEYS):
        return None
    name = params.get("data", DataConfig().name)
    if name == "folder":
        raise ValueError("data: a dataset of your own images cannot be opened from a link")
    fields: dict[str, Any] = {}
    if "dx" in params:
        fields = unpack(params["dx"])
        if not isinstance(fields, dict):
            raise ValueError("dx: not a dataset description")
        fields = {k: v for k, v in fields.items() if k not in NOT_SHARED}
    shapes = dict(fields.get("shapes") or {})
    if "level" in params:
        shapes["difficulty"] = _typed("level", params["level"], int)
    fields["shapes"] = shapes
    if "size" in params:
        fields["image_size"] = _typed("size", params["size"], int)
    return _built(DataConfig, {**fields, "name": name})


def decode_model(params: Mapping[str, str]) -> tuple[ModelConfig | None, ModelSpec | None]:
    """(the model in use, the editor's network) of a link; ValueError naming the problem."""
    editor = spec_from_json(unpack(params["net"])) if "net" in params else None
    if "model" not in params:  # width, imagenet, mirror and mnet come with it
        return None, editor
    fields: dict[str, Any] = {"name": params["model"]}
    if "width" in params:
        fields["width"] = _typed("width", params["width"], float)
    if "imagenet" in params:
        fields["pretrained"] = _typed("imagenet", params["imagenet"], bool)
    if "mirror" in params:
        fields["flip_tta"] = _typed("mirror", params["mirror"], bool)
    if "shift" in params:
        fields["shift_tta"] = _typed("shift", params["shift"], bool)
    model = _built(ModelConfig, fields)
    if model.name == "custom":
        spec = spec_from_json(unpack(params["mnet"])) if "mnet" in params else editor
        model = dataclasses.replace(model, spec=spec or ModelSpec())
    return model, editor


def decode_train(params: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The Train form fields a link sets, each checked on its own (a bad one is dropped)."""
    kinds = typing.get_type_hints(TrainConfig)  # field -> int, float or str
    values = {}
    for name in TRAIN_FIELDS:
        if name not in params:
            continue
        try:
            value = _typed(name, params[name], kinds[name])
            _built(TrainConfig, {name: value})
        except ValueError as exc:
            problems.append(str(exc))
            continue
        values[name] = value
    return values


def decode_view(params: Mapping[str, str], problems: list[str]) -> ViewState:
    """Names are checked where they are used (the run's classes, the kernel list)."""
    tab = None
    if "tab" in params:
        try:
            tab = _typed("tab", params["tab"], int)
            if not 1 <= tab <= NUM_TABS:
                raise ValueError(f"tab: expected 1 to {NUM_TABS}, got {tab}")
        except ValueError as exc:
            problems.append(str(exc))
            tab = None
    short = {k: params[k][:200] if k in params else None for k in ("true", "pred", "kernel")}
    return ViewState(short["true"], short["pred"], tab, short["kernel"])


def _controls(key: str, params: Mapping[str, str], problems: list[str]) -> frozenset[str]:
    names = {n.strip() for n in params.get(key, "")[:MAX_PARAM].split(",") if n.strip()}
    unknown = sorted(names - set(CONTROLS))
    if unknown:
        problems.append(f"{key}: unknown control(s) {', '.join(unknown)[:80]}")
    return frozenset(names & set(CONTROLS))


def decode(params: Mapping[str, str]) -> Decoded:
    """The state of a link's query parameters; what cannot be used is dropped and named."""
    problems: list[str] = []
    params = {k: v for k, v in params.items() if k in KEYS and isinstance(v, str)}
    too_long = [k for k, v in params.items() if len(v) > MAX_PARAM]
    for key in too_long:
        problems.append(f"{key}: longer than {MAX_PARAM} characters")
        del params[key]
    data = model = editor = None
    try:
        data = decode_data(params)
    except ValueError as exc:  # ConfigError too
        problems.append(f"dataset: {exc}")
    try:
        model, editor = decode_model(params)
    except ValueError as exc:
        problems.append(f"model: {exc}")
    train = decode_train(params, problems)
    augment = None
    if AUGMENT in params:
        try:
            augment = _typed(AUGMENT, params[AUGMENT], bool)
        except ValueError as exc:
            problems.append(str(exc))
    view = decode_view(params, problems)
    lock, hide = (_controls(key, params, problems) for key in (LOCK, HIDE))
    state = SharedState(data, model, editor, train, augment, view, lock, hide)
    return Decoded(state, tuple(problems))
