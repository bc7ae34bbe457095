"""The norms monitor: weight and gradient L2 norms per layer, every `WatchConfig.norms_every` steps.

TensorBoard's weight histograms, simplified to one number per layer and step: a layer whose
weights grow without bound, or whose gradients vanish (or explode), shows as a line leaving the
others. A "layer" is a module with parameters of its own (a conv, a linear, a batch-norm); its
weight norm is the L2 norm of all of them together (weight and bias), its gradient norm that of
their `.grad` (read in `after_step`, where they still hold this step's gradients).

Cost: one `vector_norm` per parameter tensor and one host read per record (a few hundred
microseconds for the presets), every N steps only. Records are `NormsEvent`s in the run's events
file, appended at most once a second and at each epoch end.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from cnnlab.events import NormsEvent
from cnnlab.runs.monitors import MONITORS

FLUSH_EVERY_S = 1.0  # seconds between appends of buffered records to the events file


def parameter_layers(model: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """(qualified module name, its own trainable parameters) for every module that has some, in
    the model's order (the normalisation's buffers are not parameters)."""
    layers = []
    for name, module in model.named_modules():
        params = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if params:
            layers.append((name or "model", params))
    return layers


@torch.no_grad()
def layer_norms(
    layers: list[tuple[str, list[nn.Parameter]]],
) -> tuple[list[float], list[float | None]]:
    """(weight norms, gradient norms) of `layers`: the L2 norm of each layer's parameters taken
    together, and of their gradients (None when none of them has one)."""
    weight_sq, grad_sq, has_grad = [], [], []
    for _, params in layers:
        weight_sq.append(sum(torch.linalg.vector_norm(p.detach().float()) ** 2 for p in params))
        grads = [p.grad for p in params if p.grad is not None]
        has_grad.append(bool(grads))
        zero = torch.zeros((), device=params[0].device)
        grad_sq.append(sum((torch.linalg.vector_norm(g.float()) ** 2 for g in grads), zero))
    values = torch.stack([torch.stack(weight_sq), torch.stack(grad_sq)]).sqrt().tolist()
    grads_out = [g if ok else None for g, ok in zip(values[1], has_grad, strict=True)]
    return values[0], grads_out


class NormsMonitor:
    """A `cnnlab.training.Monitor` appending `NormsEvent`s to `run`'s events every `every` steps
    (and after the first step). Never changes the model: it only reads parameters and grads."""

    def __init__(self, run: Any, every: int) -> None:
        self.run, self.every = run, max(1, every)
        self.layers: list[tuple[str, list[nn.Parameter]]] = []
        self.pending: list[NormsEvent] = []
        self.last_flush = time.monotonic()
        self.seconds = 0.0  # time spent measuring (the bench reads it)

    def on_start(self, state: Any) -> None:
        self.layers = parameter_layers(state.model)

    def after_step(self, state: Any, epoch: int, batch: int) -> None:
        if not self.layers or (state.step % self.every and state.step != 1):
            return
        t0 = time.perf_counter()
        weight, grad = layer_norms(self.layers)
        names = tuple(name for name, _ in self.layers)
        event = NormsEvent(epoch=epoch, step=state.step, layers=names, weight=tuple(weight),
                           grad=tuple(grad), time=time.time())  # fmt: skip
        self.pending.append(event)
        if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()
        self.seconds += time.perf_counter() - t0

    def on_epoch_end(self, state: Any, event: Any) -> None:
        self.flush()

    def flush(self) -> None:
        if self.pending:
            self.run.append_events(self.pending)
            self.pending = []
        self.last_flush = time.monotonic()


@MONITORS.register("norms")
def norms_monitor(run: Any, cfg: Any, dataset: Any, resume: bool) -> NormsMonitor | None:
    """The run's norms monitor, or None when `cfg.watch.norms_every` is 0 (off)."""
    every = cfg.watch.norms_every
    return NormsMonitor(run, every) if every > 0 else None
