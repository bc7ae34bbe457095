"""A run as one standalone training script: plain PyTorch + torchvision, no cnnlab.

`training_script(run_id, runs_dir) -> TrainingScript` writes, section by section like a notebook
(`# %%` cells): the settings (every hyperparameter of the run on one screen, with units), the
data (torchvision / scikit-learn loaders and the lab's seeded stratified splits:
`script_data.py`), the network as explicit `nn.Module` code (`model_code.py`), the lab's batch
augmentation (its own functions, copied from `cnnlab.data.augment`), the optimiser and schedule
(as `cnnlab.optim` builds them), the training loop (best weights by validation loss, early
stopping) and the test. Before the text is returned, its network is built from the generated
code and the run's weights are loaded into it (same keys and shapes, same outputs).
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from dataclasses import dataclass, fields
from pathlib import Path

import cnnlab
from cnnlab.config import AugmentConfig, Preprocess, RunConfig, TrainConfig
from cnnlab.data import DATASETS
from cnnlab.data import augment as lab_augment
from cnnlab.export.model_code import check_model_code, model_code
from cnnlab.export.script_data import ScriptDataError, data_code, data_settings
from cnnlab.models.core import test_time_logits
from cnnlab.runs import load_model

MAX_OUTPUT_DIFF = 1e-4  # the generated network must give the run's outputs within this

__all__ = ["ScriptDataError", "TrainingScript", "training_script"]


@dataclass(frozen=True)
class TrainingScript:
    text: str  # the Python source
    run_id: str
    needs: tuple[str, ...]  # packages the script imports (pip names)
    model_diff: float  # largest |output difference| of the generated network vs the run's


OPTIMIZER_CODE = {  # TrainConfig.optimizer -> the line that builds it (as cnnlab.optim does)
    "sgd": "torch.optim.SGD(param_groups, lr=LR, momentum=MOMENTUM, nesterov=NESTEROV and MOMENTUM > 0)",
    "adam": "torch.optim.Adam(param_groups, lr=LR, betas=(MOMENTUM, 0.999))  # L2 weight decay",
    "adamw": "torch.optim.AdamW(param_groups, lr=LR, betas=(MOMENTUM, 0.999))",
}
SCHEDULE_CODE = {  # TrainConfig.schedule -> the scheduler (stepped once per batch)
    "constant": "torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)",
    "step": "torch.optim.lr_scheduler.StepLR(\n    optimizer, step_size=max(1, STEP_SIZE) * steps_per_epoch, gamma=GAMMA\n)",
    "cosine": "torch.optim.lr_scheduler.CosineAnnealingLR(\n    optimizer, T_max=max(1, EPOCHS * steps_per_epoch)\n)",
    # one step more than the run takes, at least 5 (OneCycleLR divides by pct_start * total - 1)
    "onecycle": (
        "torch.optim.lr_scheduler.OneCycleLR(\n    optimizer,\n    max_lr=LR,\n"
        "    total_steps=max(5, EPOCHS * steps_per_epoch + 1),\n    pct_start=0.25,\n"
        '    anneal_strategy="linear",\n    cycle_momentum=False,\n    div_factor=10.0,\n'
        "    final_div_factor=100.0,\n)"
    ),
}
AUGMENT_HELPERS = {  # which of the lab's augmentation functions each setting needs
    "geometry": ("_rand", "_flip_signs", "_shifts", "_shift_flip", "_affine"),
    "color_jitter": ("_rand", "_color_jitter"),
    "erasing": ("_rand", "_erase"),
}

MODEL_WRAP = '''
class Normalize(nn.Module):
    """(x - mean) / std per channel, so the model takes images in [0, 1] (as in the lab)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def build_model(mean, std, num_classes):
    """norm then net: float (B, C, H, W) in [0, 1] -> logits (B, K) (the lab's state-dict keys)."""
    return nn.Sequential(OrderedDict([("norm", Normalize(mean, std)), ("net", build_net(num_classes))]))
'''

TRAINING = '''
def predict(model, x):
    """Logits (B, K) of images x (B, C, H, W) in [0, 1], with the run's test-time views."""
    return test_time_logits(model, x, MIRROR_AT_TEST, SHIFT_AT_TEST)


def evaluate(model, x, y):
    """Mean cross-entropy and accuracy on uint8 images x (N, C, H, W), labels y (N,)."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(x), EVAL_BATCH_SIZE):
            logits = predict(model, x[start : start + EVAL_BATCH_SIZE].float() / 255)
            yb = y[start : start + EVAL_BATCH_SIZE]
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    model.train()
    return total_loss / max(1, len(x)), correct / max(1, len(x))


def train(model, train_split, val_split):
    """EPOCHS passes over the shuffled training images; keeps the weights of the epoch with the
    lowest validation loss (and ends early after PATIENCE epochs without improvement)."""
    x, y = train_split
    batch_size = max(1, min(BATCH_SIZE, len(x)))
    steps_per_epoch = math.ceil(len(x) / batch_size)
    # no weight decay on biases and batch-norm scales (1-D tensors)
    params = [p for p in model.parameters() if p.requires_grad]
    param_groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    optimizer = $OPTIMIZER
    scheduler = $SCHEDULE
    torch.manual_seed(SEED)  # dropout draws from the global generator: seeded as the lab does
    generator = torch.Generator().manual_seed(SEED)  # image order and augmentation
    best_loss, best_state, bad_epochs = math.inf, copy.deepcopy(model.state_dict()), 0
    lookahead = Lookahead(steps_per_epoch, EPOCHS * steps_per_epoch) if LOOKAHEAD else None
    step = 0
    model.train()
    for epoch in range(1, EPOCHS + 1):
        order = torch.randperm(len(x), generator=generator)
        seen, loss_sum, correct = 0, 0.0, 0
        for b in range(steps_per_epoch):
            idx = order[b * batch_size : (b + 1) * batch_size]
            xb = augment_batch(x[idx].float() / 255, AUGMENT, generator)  # (B, C, H, W) in [0, 1]
            logits = model(xb)
            loss = F.cross_entropy(logits, y[idx], label_smoothing=LABEL_SMOOTHING)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if lookahead is not None:
                lookahead.after_step(model, step)
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y[idx]).sum().item()
        if lookahead is not None:
            lookahead.end_epoch(model)  # validation and the best weights see the average
        val_loss, val_acc = evaluate(model, *val_split)
        if val_loss < best_loss:
            best_loss, best_state, bad_epochs = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            bad_epochs += 1
        print(
            f"epoch {epoch:3d}  train loss {loss_sum / seen:.4f}  acc {correct / seen:.4f}  "
            f"val loss {val_loss:.4f}  acc {val_acc:.4f}"
        )
        if PATIENCE and bad_epochs >= PATIENCE:
            print(f"early stopping: no better validation loss for {bad_epochs} epochs")
            break
    model.load_state_dict(best_state)
    return model
'''

MAIN = """
if __name__ == "__main__":
    torch.set_num_threads(THREADS or torch.get_num_threads())
    class_names, train_split, val_split, test_split = make_splits()
    print(f"{len(train_split[1])} train, {len(val_split[1])} validation, {len(test_split[1])} test images")
    mean, std = channel_stats(train_split[0])  # the training images' statistics
    torch.manual_seed(SEED)  # the weights' initialisation depends on the seed too
    model = build_model(mean, std, len(class_names))$FIT
    train(model, train_split, val_split)
    test_loss, test_acc = evaluate(model, *test_split)
    print(f"test accuracy {test_acc:.4f}  loss {test_loss:.4f}  (the lab's run: $RUN_ACC)")
    torch.save(model.state_dict(), WEIGHTS_OUT)  # the best weights, loadable with weights_only=True
    print(f"weights saved to {WEIGHTS_OUT}")
"""


def _augment_code(aug: AugmentConfig) -> str:
    """The lab's augmentation functions this run uses, and `augment_batch` calling them."""
    names: list[str] = []
    geometry = aug.rotate_degrees or aug.crop_padding > 0 or aug.translate or aug.hflip
    for key, on in (("geometry", geometry), ("color_jitter", aug.color_jitter > 0)):
        names += [n for n in AUGMENT_HELPERS[key] if on and n not in names]
    if aug.erasing > 0:
        names += [n for n in AUGMENT_HELPERS["erasing"] if n not in names]
    parts = [textwrap.dedent(inspect.getsource(getattr(lab_augment, n))) for n in names]
    if "_color_jitter" in names:
        parts.insert(0, f"_LUMA = {lab_augment._LUMA!r}  # ITU-R 601 weights of R, G, B\n")
    steps = ["    if cfg.rotate_degrees:", "        x = _affine(x, cfg, generator)"]
    steps += ["    elif cfg.crop_padding > 0 or cfg.translate or cfg.hflip:"]
    steps += ["        x = _shift_flip(x, cfg, generator)"]
    if not geometry:
        steps = []
    if aug.color_jitter > 0:
        steps += ["    x = _color_jitter(x, cfg.color_jitter, generator)"]
    if aug.erasing > 0:
        steps += ["    x = _erase(x, cfg.erasing, generator)"]
    body = "\n".join(steps) if steps else "    pass  # this run trained without augmentation"
    head = (
        "def augment_batch(x, cfg, generator):\n"
        '    """Randomly augment a float batch (B, C, H, W) in [0, 1] (the lab\'s order)."""\n'
    )
    return "\n\n".join(parts + [head + body + "\n    return x\n"])


def _settings(cfg: RunConfig, aug: AugmentConfig, preprocess: Preprocess, names: list[str]) -> str:
    """The settings section: every hyperparameter of the run, one line each with its unit."""
    tc: TrainConfig = cfg.train
    lines = ["# -- training"]
    for name, comment in TRAIN_SETTINGS:
        constant = SCRIPT_NAMES.get(name, name.upper())
        lines.append(f"{constant} = {getattr(tc, name)!r}  # {comment}")
    lines += ["", "# -- test-time views (validation and test; training sees one view)"]
    lines += [f"MIRROR_AT_TEST = {cfg.model.flip_tta!r}  # average in the mirror's logits"]
    lines += [f"SHIFT_AT_TEST = {cfg.model.shift_tta!r}  # ... and the image moved 1 pixel"]
    lines += ["", "# -- data", *data_settings(cfg.data, preprocess, names)]
    values = ", ".join(f"{f.name}={getattr(aug, f.name)!r}" for f in fields(aug))
    lines += ["", "# -- augmentation (on whole batches, see augment_batch)"]
    lines += [f"AUGMENT = AugmentConfig({values})"]
    lines += ["", 'WEIGHTS_OUT = "weights.pt"  # where the trained weights are saved']
    return "\n".join(lines) + "\n"


SCRIPT_NAMES = {"early_stopping": "PATIENCE"}  # the script's name where it is not the upper case
TRAIN_SETTINGS = (  # TrainConfig fields the script uses, with their comments
    ("seed", "same seed = same splits, initial weights and image order"),
    ("epochs", "passes over the training images"),
    ("batch_size", "images per optimiser step"),
    ("optimizer", "sgd, adam or adamw"),
    ("lr", "peak learning rate"),
    ("momentum", "SGD momentum (beta1 for Adam/AdamW)"),
    ("nesterov", "SGD only"),
    ("weight_decay", "decoupled (AdamW) or L2 (SGD, Adam) strength"),
    ("schedule", "learning-rate schedule, stepped once per batch"),
    ("step_size", "epochs between decays ('step' schedule)"),
    ("gamma", "decay factor ('step' schedule)"),
    ("label_smoothing", "cross-entropy target smoothing, 0..1"),
    ("lookahead", "average the weights as they train (Lookahead: from epoch 3, every 5 steps)"),
    ("early_stopping", "early stopping: patience in epochs on validation loss (0 = off)"),
    ("eval_batch_size", "images per forward pass when evaluating"),
    ("threads", "CPU threads (0 = all cores)"),
)


AUGMENT_CLASS = """
@dataclass(frozen=True)
class AugmentConfig:
    crop_padding: int = 0  # padding, pixels, before a random crop back (0 = off)
    hflip: bool = False  # random horizontal flip
    rotate_degrees: float = 0.0  # max absolute random rotation, degrees
    translate: float = 0.0  # max random shift as a fraction of the side
    color_jitter: float = 0.0  # brightness/contrast/saturation strength, 0..1
    erasing: float = 0.0  # probability of erasing one random rectangle per image
"""


def _header(run_id: str, cfg: RunConfig, test_acc: str, needs: tuple[str, ...]) -> str:
    return (
        f'"""Retrain cnnlab run {run_id}: {cfg.model.name} on {cfg.data.name}, '
        f"{cfg.train.epochs} epochs (the run's test accuracy: {test_acc}).\n\n"
        f"Written by cnnlab {cnnlab.__version__} from the run's configuration, as plain PyTorch\n"
        "code: settings, data, network, augmentation, training, test, one section each.\n"
        f"Needs: {', '.join(needs)}. Run it with `python <this file>`; it prints each epoch,\n"
        "the test accuracy, and saves the best weights (by validation loss).\n"
        'On the CPU, results match the lab\'s run up to floating-point noise."""\n'
    )


def _imports(extra: list[str]) -> str:
    standard = sorted(
        {"import copy", "import math", "import os", *extra}, key=lambda x: x.split()[1]
    )
    return "\n".join(
        ["from __future__ import annotations", "", *standard]
        + ["from collections import OrderedDict", "from dataclasses import dataclass", ""]
        + ["# idle OpenMP threads sleep instead of spinning (much faster on a busy, small CPU);"]
        + ["# set before torch loads OpenMP"]
        + ['os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")', ""]
        + ["import numpy as np", "import torch", "import torch.nn.functional as F"]
        + ["import torchvision", "from torch import nn", "from torchvision import transforms", ""]
    )


def training_script(run_id: str, runs_dir: str | Path | None = None) -> TrainingScript:
    """The standalone training script of run `run_id` (see the module docstring). Raises
    ScriptDataError / ModelCodeError (ValueErrors) saying why a run cannot be written."""
    loaded = load_model(run_id, runs_dir)
    cfg = loaded.config
    aug = cfg.augment
    if aug.hflip and not DATASETS.get(cfg.data.name).hflip_ok:  # as training does
        aug = dataclasses.replace(aug, hflip=False)
    data = data_code(cfg.data)
    code = model_code(loaded.model, cfg.model.name)
    imports = _imports(data.imports)
    source = imports + "\n" + code.classes + "\n" + code.build
    diff = check_model_code(source, loaded.model, len(loaded.class_names))
    if not diff <= MAX_OUTPUT_DIFF:
        raise ScriptDataError(f"the written network differs from the run's by {diff:.2g}")
    metrics = loaded_metrics(run_id, runs_dir)
    needs = ("torch", "torchvision") + (("scikit-learn",) if cfg.data.name == "digits" else ())
    settings = _settings(cfg, aug, loaded.preprocess, loaded.class_names)
    sections = [
        _header(run_id, cfg, metrics, needs),
        imports,
        "# %% 1. Settings: everything the run was trained with",
        AUGMENT_CLASS.strip()
        + "\n\n\n"
        + (data.classes + "\n\n" if data.classes else "")
        + settings,
        "# %% 2. Data: uint8 images (N, C, H, W), the lab's splits and statistics",
        data.code.strip() + "\n",
        "# %% 3. The network (the same layers and names as the lab's)" + _pretrained_note(cfg),
        (code.classes + "\n\n" if code.classes else "") + code.build + MODEL_WRAP,
        "# %% 4. Augmentation on whole batches (the lab's tensor ops)",
        _augment_code(aug),
        "# %% 5. Training",
        (_lookahead_code() if cfg.train.lookahead else "")
        + textwrap.dedent(inspect.getsource(test_time_logits))
        + TRAINING.replace("$OPTIMIZER", OPTIMIZER_CODE[cfg.train.optimizer]).replace(
            "$SCHEDULE", SCHEDULE_CODE[cfg.train.schedule].replace("\n", "\n    ")
        ),
        "# %% 6. Run: data, model, training, test",
        MAIN.replace("$RUN_ACC", metrics).replace(
            "$FIT", FIT if "def fit_whitening" in code.classes else ""
        ),
    ]
    text = "\n\n".join(s.strip("\n") + "\n" for s in sections)
    return TrainingScript(text, run_id, needs, diff)


FIT = (  # after build_model in MAIN, when the network has a whitening stem (AirNet)
    "\n    fit_whitening(model, train_split[0])  # its fixed stem, from the training images"
)


def _lookahead_code() -> str:
    """cnnlab.lookahead's constants and class, for a run that averaged its weights."""
    from cnnlab import lookahead as la

    constants = "".join(
        f"{n} = {getattr(la, n)!r}\n" for n in ("START_EPOCH", "EVERY", "BASE", "POWER")
    )
    parts = [inspect.getsource(la.Lookahead), inspect.getsource(la._float_tensors)]
    body = "\n\n".join(textwrap.dedent(p).strip() + "\n" for p in parts)
    return (
        f"# Lookahead averaging of the weights (as cnnlab/lookahead.py)\n{constants}\n\n{body}\n\n"
    )


def _pretrained_note(cfg: RunConfig) -> str:
    """A comment when the run did not start from random weights (ImageNet, a saved run, frozen
    blocks: `cnnlab.finetune.describe`): the script has no such weights and trains from scratch."""
    from cnnlab.finetune import describe

    how = describe(cfg.model)
    if not how:
        return ""
    return (
        f"\n# The lab's run {how}."
        "\n# This script has no such weights: it trains every layer from scratch (its accuracy"
        "\n# may differ)."
    )


def loaded_metrics(run_id: str, runs_dir: str | Path | None) -> str:
    """The run's test accuracy as text for the script's comments ("unknown" when absent)."""
    from cnnlab.runs import get_run

    acc = get_run(run_id, runs_dir).metrics().get("test_acc")
    return f"{acc:.4f}" if isinstance(acc, (int, float)) else "unknown"
