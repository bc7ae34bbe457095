"""`cnnlab train --from-run RUN [--more-epochs N] [--freeze-up-to BLOCK]`: a run that starts
from a saved run's weights (`ModelConfig.init_from`; the weights are loaded by
`cnnlab.finetune.prepare` when the run trains).

- `--from-run RUN` alone: the saved run's dataset, recipe and network, from its weights (give
  `--dataset`/`--path` to fine-tune on other data: that dataset's recipe, the run's network).
- `--more-epochs N`: continue a finished run for N more epochs as a NEW run (its config names the
  parent in `model.init_from`): the parent stays as it was, so the two compare side by side. It
  starts from the parent's best weights with a fresh optimizer and the same schedule over the N
  epochs (a warm restart): the parent's schedule has ended, so continuing it would train at its
  final, tiny learning rate.
- A resizable dataset (a folder, shapes) without `--image-size` takes the run's image side, so
  every layer's shape fits the saved weights.
"""

from __future__ import annotations

import argparse
from typing import Any

from cnnlab.cli.output import say


def add_flags(p: argparse.ArgumentParser) -> None:
    """The flag the settings do not give (`--from-run` and `--freeze-up-to` are aliases)."""
    p.add_argument(
        "--more-epochs",
        type=int,
        metavar="N",
        help="with --from-run RUN: a new run that continues RUN for N more epochs (RUN is kept)",
    )


def apply_start(base: dict[str, Any], given: dict[str, Any], args: argparse.Namespace) -> dict:
    """The config dict to train when `--from-run` is given (else `base` unchanged)."""
    from cnnlab.cli.train import UsageError
    from cnnlab.config import to_dict
    from cnnlab.data import DATASETS
    from cnnlab.runs import RunNotFound, get_run

    source = given.get("model.init_from")
    more = getattr(args, "more_epochs", None)
    if more is not None and (more < 1 or not source):
        raise UsageError("--more-epochs N continues a saved run: give N >= 1 and --from-run RUN")
    if not source:
        return base
    try:
        run = get_run(source, args.runs_dir)
        parent = to_dict(run.config())
    except (RunNotFound, ValueError) as exc:
        raise UsageError(f"--from-run {source}: {exc}") from exc
    if not run.has_weights():
        raise UsageError(f"--from-run {source}: the run has no saved weights yet")
    same_data = "data.name" not in given and "data.path" not in given
    if not args.config and (more is not None or same_data):
        base = parent  # the run's own dataset and recipe
    if "model.name" not in given:  # the saved run's network (its weights fit it)
        base["model"] = dict(parent["model"])
    base["model"].update(init_from=source, pretrained=False)
    if more is not None:
        base["train"] = {**base["train"], "epochs": more}
        base["note"] = f"{more} more epochs of {source}"
    name = given.get("data.name", base.get("data", {}).get("name"))
    side = run.meta().get("preprocess", {}).get("input_shape", [0, 0, 0])[-1]
    if name in DATASETS and DATASETS.get(name).resizable and "data.image_size" not in given:
        if base.get("data", {}).get("image_size") != side:
            base["data"] = {**base.get("data", {}), "image_size": side}
            quiet = args.json or args.print_config
            say(f"image size {side} px, the size run {source} was trained on", json_mode=quiet)
    return base


def check_freeze(config: Any, runs_dir: str | None) -> None:
    """UsageError when `model.freeze_up_to` is not a block of the network (checked on the saved
    run's input shape, else 3x32x32: block names do not depend on it; a network that cannot be
    built on it is left to the run, which names the choices too)."""
    import dataclasses

    from cnnlab.cli.train import UsageError
    from cnnlab.config import Preprocess
    from cnnlab.finetune import freeze_choices
    from cnnlab.models import build_model
    from cnnlab.runs import get_run

    model = config.model
    if not model.freeze_up_to:
        return
    shape = (3, 32, 32)
    if model.init_from:
        shape = tuple(get_run(model.init_from, runs_dir).meta()["preprocess"]["input_shape"])
    plain = dataclasses.replace(model, pretrained=False, init_from="", freeze_up_to="")
    try:
        net = build_model(plain, Preprocess(shape, (0.5,), (0.25,)), 10).net
    except (ValueError, KeyError):
        return
    choices = freeze_choices(net)
    if model.freeze_up_to not in choices:
        known = ", ".join(c for c in choices if c)
        raise UsageError(
            f"invalid settings: model.freeze_up_to: {model.freeze_up_to!r} is not a block of "
            f"{model.name} before its head; choose one of: {known}"
        )
