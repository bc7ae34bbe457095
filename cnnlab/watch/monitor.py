"""The snapshot monitor: the filmstrip and the embedding of a run, recorded while it trains.

When: the initial weights (a fresh run's `on_start`), EARLY_POINTS inside epoch 1 (most of the
change happens there; probes only), and each epoch's end (every k-th when a run has more than
MAX_EPOCH_FRAMES epochs, plus the last, a stopped one and the early-stopping one).
What: `capture.capture_probes` (maps, filters, probabilities of the probes) and, except early in
epoch 1, `capture.capture_features` of the embedding points reduced by `projection.pca_2d`.
Storage per run (stated in README): at most 4 + MAX_EPOCH_FRAMES + 2 snapshots of at most
MAP_BYTES of maps each plus small arrays, before compression; about 3-6 MB worst case, well under
1 MB for the default digits/MNIST runs (bench/bench_watch.py prints it).
A snapshot failure never fails the run: snapshots stop and error.txt says why.
"""

from __future__ import annotations

import math
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab.runs.monitors import MONITORS
from cnnlab.watch import capture, frames, probes
from cnnlab.watch.frames import Frame
from cnnlab.watch.probes import Plan
from cnnlab.watch.projection import pca_2d

EARLY_POINTS = (0.1, 0.25, 0.5)  # shares of epoch 1's steps after which the probes are taken
MAX_EPOCH_FRAMES = 40  # epoch-end snapshots of a long run (every k-th epoch beyond this)


class SnapshotMonitor:
    """A `cnnlab.training.Monitor` writing into `folder` (a run's `snapshots_dir`)."""

    def __init__(self, folder: Path, cfg: Any, dataset: Any, resume: bool) -> None:
        self.folder, self.resume = Path(folder), resume
        self.watch, self.train_cfg = cfg.watch, cfg.train
        self.dataset = dataset
        self.enabled = True
        self.plan: Plan | None = None
        self.probe_x = self.embed_x = torch.zeros(0)
        self.early_steps: set[int] = set()
        self.every = max(1, math.ceil(cfg.train.epochs / MAX_EPOCH_FRAMES))
        self.seconds = 0.0  # time spent in this pass (the bench reads it)
        self.bytes_written = 0

    # -- Monitor protocol ---------------------------------------------------------------------
    def on_start(self, state: Any) -> None:
        self._guard(self._start, state)

    def after_step(self, state: Any, epoch: int, batch: int) -> None:
        if self.enabled and epoch == 1 and state.step in self.early_steps:
            self._guard(self._take, state, "early")

    def on_epoch_end(self, state: Any, event: Any) -> None:
        if not self.enabled:
            return
        tc = self.train_cfg
        ending = tc.early_stopping > 0 and state.bad_epochs >= tc.early_stopping
        if event.partial or ending or event.epoch % self.every == 0 or event.epoch >= tc.epochs:
            kind = "stopped" if event.partial else "epoch"
            self._guard(self._take, state, kind, event.val_acc)

    # -- work -----------------------------------------------------------------------------------
    def _guard(self, func: Any, *args: Any) -> None:
        """Run one piece of work; a failure turns snapshots off for the run (training goes on)."""
        if not self.enabled:
            return
        try:
            func(*args)
        except Exception:  # noqa: BLE001 - snapshots must never fail a run
            self.enabled = False
            frames.write_error(self.folder, traceback.format_exc())

    def _start(self, state: Any) -> None:
        val = self.dataset.val
        plan = probes.load_plan(self.folder) if self.resume and state.start_epoch > 0 else None
        if plan is not None and plan.val_size != len(val.y):
            plan = None  # another split than the one the plan points into
        if plan is None:
            frames.clear(self.folder)
            plan = self._new_plan(state)
        else:
            frames.drop_after(self.folder, state.step)
        self.plan = plan
        self.probe_x = val.x[torch.as_tensor(plan.probe_indices, dtype=torch.long)]
        self.embed_x = val.x[torch.as_tensor(plan.embed_indices, dtype=torch.long)]
        if not len(self.probe_x) and not len(self.embed_x):
            self.enabled = False  # nothing to watch (an empty validation split)
            return
        spe = state.steps_per_epoch
        if state.start_epoch == 0:
            self.early_steps = {math.ceil(f * spe) for f in EARLY_POINTS} - {0, spe}
        if state.step not in frames.frame_steps(self.folder):
            self._take(state, "start" if state.step == 0 else "epoch")

    def _new_plan(self, state: Any) -> Plan:
        val, seed, w = self.dataset.val, self.train_cfg.seed, self.watch
        labels = np.asarray(val.y)
        k = len(self.dataset.class_names)
        probe_idx = probes.choose_probes(labels, k, w.probes_per_class, seed)
        count = probes.embed_count(w.embedding_points, len(labels), len(self.dataset.train.y))
        if capture.last_linear(state.model) is None:
            count = 0  # no penultimate features to project
        embed_idx = probes.choose_embedding(len(labels), count, seed)
        layers, totals, channels, sizes = [], [], 0, []
        if len(probe_idx) and capture.conv_names(state.model):
            shapes = capture.map_shapes(state.model, val.x[torch.as_tensor(probe_idx[:1])])
            layers, totals, channels, sizes = capture.plan_maps(shapes, len(probe_idx))
        plan = Plan(
            seed=seed,
            val_size=len(labels),
            probe_indices=probe_idx.tolist(),
            probe_labels=labels[probe_idx].tolist(),
            embed_indices=embed_idx.tolist(),
            embed_labels=labels[embed_idx].tolist(),
            class_names=list(self.dataset.class_names),
            steps_per_epoch=state.steps_per_epoch,
            layers=layers,
            layer_channels=totals,
            channels=channels,
            map_sizes=[list(s) for s in sizes],
        )
        probes.save_plan(self.folder, plan, val.x[torch.as_tensor(probe_idx, dtype=torch.long)])
        return plan

    def _take(self, state: Any, kind: str, val_acc: float | None = None) -> None:
        t0 = time.perf_counter()
        plan, model = self.plan, state.model
        frame = Frame(step=state.step, epoch=state.step / max(1, state.steps_per_epoch), kind=kind)
        frame.val_acc = val_acc
        if len(self.probe_x):
            sizes = [tuple(s) for s in plan.map_sizes]
            got = capture.capture_probes(model, self.probe_x, plan.layers, plan.channels, sizes)
            frame.maps, frame.ranges = got.maps, got.ranges
            frame.probs, frame.filters = got.probs, got.filters
        if len(self.embed_x) and kind != "early":
            features, probs = capture.capture_features(model, self.embed_x)
            frame.embed_xy, frame.explained = pca_2d(features)
            frame.embed_pred = probs.argmax(axis=1).astype(np.int16)
            frame.embed_conf = probs.max(axis=1).astype(np.float16)
            frames.write_features(self.folder, state.step, features)
        frame.seconds = time.perf_counter() - t0
        self.bytes_written += frames.write_frame(self.folder, frame)
        self.seconds += time.perf_counter() - t0


@MONITORS.register("snapshots")
def snapshot_monitor(run: Any, cfg: Any, dataset: Any, resume: bool) -> SnapshotMonitor | None:
    """The run's snapshot monitor, or None when `cfg.watch` turns it off."""
    w = cfg.watch
    if not w.snapshots or (w.probes_per_class <= 0 and w.embedding_points <= 0):
        return None
    return SnapshotMonitor(run.snapshots_dir, cfg, dataset, resume)
