"""Tiny trainings for lessons 8-9: a small CNN on a small shapes set, a few seconds each, with the
lab's own training engine (`cnnlab.training.train`, no run folder), so the curves are what a real
run of the same config would draw.

Run on demand, not precomputed: one knob combination costs ~1-3 s on one core, there are too many
combinations to ship, and a result is kept on disk (`CNNLAB_CACHE/learn/tiny-<hash>.json`), so each
is trained once per server and every later visitor gets it at once. One training at a time per
process (a lock) and one torch thread, so a lesson never takes the server's cores from the others.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnlab.config import (
    AugmentConfig,
    ConvBlock,
    DataConfig,
    ModelConfig,
    ModelSpec,
    RunConfig,
    ShapesConfig,
    TrainConfig,
    WatchConfig,
    default_cache_dir,
)
from cnnlab.jsonio import atomic_write_json, read_dict
from cnnlab.learn.figures import layout
from cnnlab.plots import TRAIN_COLOR, VAL_COLOR

VERSION = 2  # bump when the recipe below changes: old cached curves are then ignored
_ONE_AT_A_TIME = threading.Lock()  # tiny trainings in this process run one after another


@dataclass(frozen=True)
class TinySetup:
    """One tiny training: the data, the regularisers, the network's extras."""

    train_images: int = 150  # training images kept (the rest of the split is dropped)
    label_noise: float = 0.3  # share of training labels set to a wrong class (val stays clean)
    augment: bool = False  # random crops (3 px), flips and rotations up to 15°
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    batch_norm: bool = False  # batch-norm after each conv
    dropout: float = 0.0  # dropout before the dense layer
    lr: float = 3e-3  # AdamW's learning rate, constant
    epochs: int = 30  # passes over the training images
    image_size: int = 24  # shapes side, pixels
    num_images: int = 1200  # generated shapes: 25 % validation, 5 % test, the rest training
    seed: int = 0  # data, initial weights and batch order


@dataclass(frozen=True)
class TinyCurves:
    """Per epoch (index 0 = epoch 1): what the run measured."""

    train_loss: tuple[float, ...]  # mean cross-entropy over the epoch's batches (train mode)
    val_loss: tuple[float, ...]
    train_acc: tuple[float, ...]  # share right over the epoch's batches (augmented, train mode)
    val_acc: tuple[float, ...]
    seconds: float  # training time
    val_images: int

    @property
    def epochs(self) -> int:
        return len(self.val_acc)

    @property
    def final_gap(self) -> float:
        """Train minus validation accuracy at the last epoch (overfitting's size)."""
        return self.train_acc[-1] - self.val_acc[-1]


def run_config(setup: TinySetup) -> RunConfig:
    """The lab's RunConfig for `setup` (the same could be trained from the Train page)."""
    data = DataConfig(
        name="shapes", image_size=setup.image_size, num_images=setup.num_images,
        val_fraction=0.25, test_fraction=0.05, limit=setup.train_images, seed=setup.seed,
        shapes=ShapesConfig(difficulty=0, label_noise=setup.label_noise),
    )  # fmt: skip
    blocks = tuple(ConvBlock(f, batch_norm=setup.batch_norm) for f in (8, 16, 32))
    augment = (
        AugmentConfig(crop_padding=3, hflip=True, rotate_degrees=15) if setup.augment else None
    )
    train = TrainConfig(
        optimizer="adamw", lr=setup.lr, weight_decay=setup.weight_decay, schedule="constant",
        epochs=setup.epochs, batch_size=32, seed=setup.seed, threads=1, device="cpu",
        channels_last=False, checkpoint_every=0, batch_events_per_s=0.0,
    )  # fmt: skip
    return RunConfig(
        data=data,
        augment=augment or AugmentConfig(),
        model=ModelConfig(name="custom", spec=ModelSpec(blocks, (64,), setup.dropout)),
        train=train,
        watch=WatchConfig(snapshots=False, embedding_points=0, norms_every=0),
    )


def train_tiny(setup: TinySetup) -> TinyCurves:
    """Train `setup` now (no cache), one thread."""
    import torch

    from cnnlab.data import load_dataset
    from cnnlab.models import build_model
    from cnnlab.training import train

    cfg = run_config(setup)
    dataset = load_dataset(cfg.data)
    torch.manual_seed(setup.seed)  # the initial weights: the same setup gives the same curves
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    start = time.perf_counter()
    result = train(cfg, dataset, model, emit=lambda event: None)
    h = result.history
    return TinyCurves(
        tuple(e.train_loss for e in h), tuple(e.val_loss for e in h),
        tuple(e.train_acc for e in h), tuple(e.val_acc for e in h),
        time.perf_counter() - start, len(dataset.val),
    )  # fmt: skip


def cache_key(setup: TinySetup) -> str:
    text = json.dumps([VERSION, dataclasses.asdict(setup)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def tiny_curves(setup: TinySetup, cache_dir: Path | None = None) -> TinyCurves:
    """`setup`'s curves from the disk cache, else trained now (then cached). Safe to call from
    many sessions and processes at once: each setup is trained once."""
    folder = Path(cache_dir or default_cache_dir()) / "learn"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tiny-{cache_key(setup)}.json"
    cached = _read(path)
    if cached is not None:
        return cached
    with open(folder / f".{path.stem}.lock", "a") as lock, _ONE_AT_A_TIME:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process training the same setup: wait for it
        try:
            cached = _read(path)
            if cached is not None:
                return cached
            curves = train_tiny(setup)
            atomic_write_json(path, dataclasses.asdict(curves))
            return curves
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> TinyCurves | None:
    data = read_dict(path)
    try:
        lists = [
            tuple(float(v) for v in data[k])
            for k in ("train_loss", "val_loss", "train_acc", "val_acc")
        ]
        return TinyCurves(*lists, float(data["seconds"]), int(data["val_images"]))
    except (KeyError, TypeError, ValueError):
        return None


def early_stop(val_loss: tuple[float, ...], patience: int) -> tuple[int, int]:
    """(epoch training stops after, epoch whose weights are kept), 1-based, for early stopping
    with `patience` on the validation loss, as `cnnlab.training` does it; patience 0 = off."""
    best, best_epoch = float("inf"), 0
    for epoch, loss in enumerate(val_loss, start=1):
        if loss < best:
            best, best_epoch = loss, epoch
        elif patience and epoch - best_epoch >= patience:
            return epoch, best_epoch
    return len(val_loss), best_epoch


# -- figures -----------------------------------------------------------------------------------


def curves_figure(
    panels: Sequence[tuple[str, TinyCurves]], metric: str = "acc", stop: int | None = None
) -> go.Figure:
    """Side by side, one per (title, curves): training vs validation `metric` ("acc" or "loss")
    per epoch, the shaded area between them = the gap. `stop` marks an early-stopping epoch on
    every panel (a dashed line)."""
    fig = make_subplots(
        rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels], shared_yaxes=True
    )
    for i, (_, curves) in enumerate(panels, start=1):
        epochs = list(range(1, curves.epochs + 1))
        train = curves.train_acc if metric == "acc" else curves.train_loss
        val = curves.val_acc if metric == "acc" else curves.val_loss
        for name, values, color, fill in (
            ("training", train, TRAIN_COLOR, None),
            ("validation", val, VAL_COLOR, "tonexty"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=epochs, y=values, name=name, mode="lines", fill=fill,
                    line=dict(color=color, width=3), showlegend=i == 1,
                    fillcolor="rgba(200, 200, 200, 0.35)",
                ),
                row=1, col=i,
            )  # fmt: skip
        if stop:
            fig.add_vline(x=stop, line=dict(dash="dash", color="#444"), row=1, col=i)
        fig.update_xaxes(title="epoch", row=1, col=i)
    if metric == "acc":
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_yaxes(title="accuracy" if metric == "acc" else "loss", row=1, col=1)
    fig.update_layout(legend=dict(orientation="h", y=-0.3, x=0))
    return layout(fig, 360, top=40, margin_b=60)
