"""Fine-tuning: how a run's network starts (fresh, ImageNet weights, a saved run's weights) and
which of its parts learn (blocks frozen up to one, a lower learning rate for what came
pre-trained). The settings are `ModelConfig` fields (`pretrained`, `init_from`, `freeze_up_to`,
`pretrained_lr_scale`), so a run's config.json says how it was made.

`prepare(model, cfg, class_names=...)` runs right after `build_model` wherever a run trains (the
runner and every DDP rank): it loads the weights, marks the loaded parameters with their learning
rate scale (`cnnlab.optim.LR_SCALE`, read by `build_optimizer`) and freezes the chosen blocks.
What it adapted is said in `StartReport.messages` (recorded in the run's meta):

- classes differ from the saved run's: the last layer (the head) starts fresh; the same classes
  in another order: its rows are reordered;
- other input channels: the first conv's filters are adapted (grey <-> RGB, as for ImageNet);
- another input size: every tensor whose shape depends on it (a dense layer after flatten) starts
  fresh, named; the CLI and the app avoid it for resizable datasets by using the run's size.

Frozen blocks: `requires_grad` off (so the optimizer never sees them: no update, no weight
decay) and their batch-norm layers kept in eval mode (running statistics neither used from the
batch nor updated), so every tensor of a frozen block stays exactly as loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.config import ModelConfig
from cnnlab.optim import LR_SCALE

HEAD_ONLY = "body"  # freeze_up_to value: every block but the head (train the head only)
MERGED = {"conv1": "stem", "bn1": "stem"}  # ResNet's stem is two children: one block
Progress = Callable[[int, int], None]  # download (bytes done, bytes in all; 0 = unknown)


class FinetuneError(ValueError):
    """A start that cannot be made (unknown block, missing run, another network); says why."""


@dataclass(frozen=True)
class Block:
    """A unit of `freeze_up_to`: a name and the modules (under `model.net`) it covers."""

    name: str
    modules: tuple[str, ...]


@dataclass(frozen=True)
class StartReport:
    """How the network started: for the run's meta, the log and the Train page."""

    note: str  # one line, e.g. "weights of run 2026...; new head for 5 classes"
    messages: tuple[str, ...]  # what was adapted or rebuilt, one sentence each
    loaded: tuple[str, ...]  # state-dict keys of the model that came pre-trained
    frozen: tuple[str, ...]  # parameter names kept fixed


def blocks(net: nn.Module) -> list[Block]:
    """The network's blocks in forward order (top-level children with parameters; MobileNet's
    `features` one block per stage, ResNet's conv1 + bn1 one "stem"); the last is the head."""
    found: list[Block] = []
    for name, child in net.named_children():
        if not any(True for _ in child.parameters()):
            continue
        if name == "features" and isinstance(child, nn.Sequential):
            found += [Block(f"features.{i}", (f"features.{i}",)) for i in range(len(child))]
        elif name in MERGED and found and found[-1].name == MERGED[name]:
            found[-1] = Block(found[-1].name, (*found[-1].modules, name))
        else:
            found.append(Block(MERGED.get(name, name), (name,)))
    return found


def freeze_choices(net: nn.Module) -> list[str]:
    """What `freeze_up_to` may be for this network: "" (nothing), each block but the head, and
    HEAD_ONLY (all of them: only the head trains)."""
    return ["", *[b.name for b in blocks(net)[:-1]], HEAD_ONLY]


def _stay_eval(module: nn.Module, args: object) -> None:
    module.training = False  # a frozen batch-norm: use and keep its running statistics


def freeze(model: nn.Module, up_to: str) -> list[str]:
    """Freeze the blocks of `model.net` up to and including `up_to` (HEAD_ONLY: all but the
    head); returns the frozen parameter names. FinetuneError names the choices."""
    if not up_to:
        return []
    net, found = model.net, blocks(model.net)
    names = [b.name for b in found]
    if up_to == HEAD_ONLY:
        count = len(found) - 1
    elif up_to in names[:-1]:
        count = names.index(up_to) + 1
    else:
        known = ", ".join([*names[:-1], HEAD_ONLY])
        raise FinetuneError(
            f"freeze_up_to: {up_to!r} is not a block of this network before its head block "
            f"{names[-1]!r}; choose one of: {known}"
        )
    frozen = []
    for block in found[:count]:
        for prefix in block.modules:
            module = net.get_submodule(prefix)
            for pname, param in module.named_parameters():
                param.requires_grad_(False)
                frozen.append(f"net.{prefix}.{pname}")
            for sub in module.modules():
                if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                    sub.register_forward_pre_hook(_stay_eval)
    return frozen


def head_layer(model: nn.Module) -> str:
    """Qualified name of the last `nn.Linear` (the layer that gives the class logits)."""
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise FinetuneError("this network has no dense output layer to rebuild")
    return linear[-1]


def _adapt_channels(w: torch.Tensor, channels: int) -> torch.Tensor:
    """(F, C, k, k) filters -> (F, channels, k, k): their sum spread evenly over the new
    channels, so a grey image (all channels equal) gives the same response."""
    return w.sum(1, keepdim=True).repeat(1, channels, 1, 1) / channels


def _shape_text(shape: object) -> str:
    return "×".join(str(v) for v in shape)  # type: ignore[attr-defined]


def load_run_weights(
    model: nn.Module, run_id: str, class_names: list[str], runs_dir: str | Path | None = None
) -> tuple[list[str], list[str]]:
    """A saved run's best weights into `model` (built for this dataset): (keys loaded, messages).
    The normalisation stays this dataset's; see the module docstring for what is adapted."""
    from cnnlab.runs import RunNotFound, get_run

    try:
        run = get_run(run_id, runs_dir)
    except RunNotFound as exc:
        raise FinetuneError(f"init_from: no saved run {run_id!r} ({exc})") from exc
    if not run.has_weights():
        raise FinetuneError(f"init_from: run {run_id} has no saved weights to start from")
    meta, source = run.meta(), run.load_weights()
    old_classes = [str(c) for c in meta.get("class_names", [])]
    own = model.state_dict()
    odd = sorted(set(own) ^ set(source))
    if odd:
        raise FinetuneError(
            f"init_from: run {run_id} is another network ({meta.get('model_title', '?')}, "
            f"e.g. {odd[0]} is only in one of them): start from it with the same model and "
            "settings (leave the model as the saved run has it)"
        )
    head = head_layer(model)
    conv = next(n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)) + ".weight"
    new, fresh, messages = {}, [], []
    if old_classes != list(class_names):
        if sorted(old_classes) == sorted(class_names):  # same classes, another order: reorder
            order = torch.tensor([old_classes.index(c) for c in class_names])
            for key in (f"{head}.weight", f"{head}.bias"):
                if key in source:
                    source[key] = source[key][order]
            messages.append("the head's rows were reordered to this dataset's class order")
        else:
            fresh += [k for k in own if k.startswith(head + ".")]
            messages.append(
                f"the head ({head.removeprefix('net.')}) is rebuilt for this dataset's "
                f"{len(class_names)} classes (the saved run had {len(old_classes)}: "
                f"{', '.join(old_classes[:5])}{', …' * (len(old_classes) > 5)}); the other "
                "layers start from the run's weights"
            )
    for key, value in own.items():
        if key.startswith("norm.") or key in fresh:
            continue  # this dataset's mean/std; a rebuilt head keeps its fresh initialisation
        src = source[key]
        if src.shape == value.shape:
            new[key] = src
        elif key == conv and src.shape[0] == value.shape[0] and src.shape[2:] == value.shape[2:]:
            new[key] = _adapt_channels(src, value.shape[1])
            messages.append(
                f"the first conv is adapted from {src.shape[1]} to {value.shape[1]} input "
                "channel(s) (its filters summed and spread over the new channels)"
            )
        else:
            fresh.append(key)
            old_shape = meta.get("preprocess", {}).get("input_shape", "?")
            messages.append(
                f"{key.removeprefix('net.')} starts fresh: its shape {_shape_text(value.shape)} "
                f"differs from the run's {_shape_text(src.shape)} (the input here is "
                f"{_shape_text(getattr(model, 'input_shape', '?'))}, the run's "
                f"{_shape_text(old_shape)})"
            )
    model.load_state_dict(new, strict=False)
    return list(new), messages


def prepare(
    model: nn.Module,
    cfg: ModelConfig,
    *,
    class_names: list[str],
    runs_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> StartReport:
    """Start `model` (a fresh `Classifier` from `build_model(cfg, ...)`) as `cfg` says; sets
    `model.pretrained_note`. Raises FinetuneError, or `ImageNetUnavailable` (offline, no file)."""
    from cnnlab.models import MODELS, load_imagenet

    loaded: list[str] = []
    messages: list[str] = []
    imagenet = MODELS.get(cfg.name).imagenet_weights
    if cfg.init_from:
        loaded, messages = load_run_weights(model, cfg.init_from, class_names, runs_dir)
        note = f"started from the weights of run {cfg.init_from}"
    elif cfg.pretrained and imagenet:
        loaded = ["net." + k for k in load_imagenet(model.net, cfg.name, progress)]
        note = "started from ImageNet weights; first conv adapted to the input, new head"
    else:
        note = "trained from scratch"
        if cfg.pretrained:
            messages.append(f"{cfg.name} has no ImageNet weights: it starts from scratch")
    if loaded and cfg.pretrained_lr_scale != 1.0:
        params = dict(model.named_parameters())
        for key in loaded:
            if key in params:
                setattr(params[key], LR_SCALE, cfg.pretrained_lr_scale)
    frozen = freeze(model, cfg.freeze_up_to)
    if frozen:
        head_only = cfg.freeze_up_to == HEAD_ONLY
        what = "every block but the head" if head_only else f"the blocks up to {cfg.freeze_up_to}"
        messages.append(f"{what} stay fixed ({len(frozen)} tensors)")
        if not loaded:
            messages.append("the frozen blocks keep their random initial weights")
    if loaded and cfg.pretrained_lr_scale != 1.0:
        messages.append(f"pre-trained weights learn at {cfg.pretrained_lr_scale:g} × the lr")
    model.pretrained_note = "; ".join([note, *messages])
    return StartReport(model.pretrained_note, tuple(messages), tuple(loaded), tuple(frozen))


def start_from_run(
    run_id: str, cfg: ModelConfig, runs_dir: str | Path | None = None
) -> ModelConfig:
    """`cfg` (its freeze and lr settings) on the network of run `run_id`, started from its
    weights: what the app's "Start from: a saved run" makes (the weights fit only that network)."""
    from cnnlab.runs import get_run

    own = get_run(run_id, runs_dir).config().model
    return dataclasses.replace(
        own,
        pretrained=False,
        init_from=run_id,
        freeze_up_to=cfg.freeze_up_to,
        pretrained_lr_scale=cfg.pretrained_lr_scale,
    )


def preview(
    run_id: str,
    class_names: list[str],
    input_shape: tuple[int, ...],
    runs_dir: str | Path | None = None,
) -> list[str]:
    """What starting from run `run_id` on this data will adapt (from its meta, nothing loaded)."""
    from cnnlab.runs import get_run

    meta = get_run(run_id, runs_dir).meta()
    old = [str(c) for c in meta.get("class_names", [])]
    shape = tuple(meta.get("preprocess", {}).get("input_shape", ()))
    notes = []
    if sorted(old) != sorted(class_names):
        notes.append(
            f"the head is rebuilt for this dataset's {len(class_names)} classes (the run had "
            f"{len(old)}); the other layers start from the run's weights"
        )
    elif old != list(class_names):
        notes.append("the same classes in another order: the head's rows are reordered")
    if shape and shape[0] != input_shape[0]:
        notes.append(f"the first conv is adapted from {shape[0]} to {input_shape[0]} channel(s)")
    if shape and tuple(shape[1:]) != tuple(input_shape[1:]):
        notes.append(
            f"the images here are {_shape_text(input_shape[1:])}, the run's "
            f"{_shape_text(shape[1:])}: layers whose shape depends on the size (a dense layer "
            "after flatten) start fresh; a folder dataset can take the run's size (Data page)"
        )
    return notes


def describe(cfg: ModelConfig) -> str:
    """One line on how a run with `cfg` starts, for the Train page ("" = from scratch, all learn)."""
    parts = []
    if cfg.init_from:
        parts.append(f"starts from the weights of run {cfg.init_from}")
    elif cfg.pretrained:
        parts.append("starts from ImageNet weights")
    if cfg.freeze_up_to:
        what = "all but the head" if cfg.freeze_up_to == HEAD_ONLY else f"up to {cfg.freeze_up_to}"
        parts.append(f"blocks {what} frozen")
    if (cfg.init_from or cfg.pretrained) and cfg.pretrained_lr_scale != 1.0:
        parts.append(f"pre-trained weights at {cfg.pretrained_lr_scale:g} × the learning rate")
    return "; ".join(parts)
