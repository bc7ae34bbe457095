"""The learning-rate finder: an exponential learning-rate ramp over ~100 steps, loss against rate.

Leslie Smith's range test as fastai runs it (`Learner.lr_find`): start from a fresh model, raise
the learning rate from `start_lr` to `end_lr` by the same factor every step, record each step's
training loss, smooth it (an exponential moving average with bias correction; beta 0.9, see
SMOOTH_BETA), and stop once the smoothed loss passes 4x its minimum (it diverged). The suggestion is fastai's
"steepest slope" (`steep`): the rate where the smoothed loss falls fastest against log(rate), a
rate that still learns fast, below the minimum where it starts to blow up. fastai's "valley"
(`valley`, here too) suggested 0.03-0.05 on MNIST, 4-7x less than the tuned recipe's 0.2
(seeds 0-1, 100 steps); the steepest slope 0.40-0.46 (`tests/test_curves.py` holds it within 3x).

The same code as training builds everything (`cnnlab.models.build_model`, `training.setup`,
`train_step.step`: optimizer, augmentation, precision, label smoothing as the run would have
them); only the schedule is replaced by the ramp. Nothing is written: no run folder, and the
caller's model is never touched (a fresh one is built here). The global torch generator, which
`setup` seeds, is put back as it was, and so is the thread count.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from cnnlab.config import RunConfig

# The lab's loss smoothing (`curves.smooth`): an EMA over ~10 steps. fastai's 0.98 averages over
# ~50 steps, half of a 100-step ramp: its curve lags the rate by ~3 decades here (measured on
# MNIST: the smoothed loss kept falling 20 steps after the raw loss had blown up).
SMOOTH_BETA = 0.9
DIVERGE_FACTOR = 4.0  # stop once the smoothed loss exceeds this many times its minimum
# A blow-up for the suggestion: the smoothed loss 5% above its lowest so far (its wiggles on the
# flat start stay under 1%; the first blow-up of shapes and MNIST rose 6-35%).
BLOWUP_RISE = 1.05
METHOD = "steepest"
METHOD_TEXT = (
    "steepest slope (fastai's `steep`): the rate where the smoothed loss falls fastest per "
    "decade of learning rate"
)


@dataclass(frozen=True)
class LRFinding:
    """One range test: per step, the rate used and the loss measured (same length)."""

    lrs: list[float] = field(default_factory=list)  # learning rate of each step
    losses: list[float] = field(default_factory=list)  # training loss of each step (raw)
    smoothed: list[float] = field(default_factory=list)  # EMA with bias correction
    suggestion: float | None = None  # the suggested peak learning rate (None: too few steps)
    method: str = METHOD  # how `suggestion` was chosen (see METHOD_TEXT)
    diverged: bool = False  # stopped early: the smoothed loss passed 4x its minimum
    steps: int = 0  # steps planned
    seconds: float = 0.0  # wall time of the test
    message: str = ""  # what happened, for people


def smooth_losses(losses: list[float], beta: float = SMOOTH_BETA) -> list[float]:
    """fastai's smoothing: avg = beta * avg + (1 - beta) * loss, divided by 1 - beta ** n."""
    avg, out = 0.0, []
    for n, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta**n))
    return out


def valley(lrs: list[float], losses: list[float]) -> float | None:
    """fastai's `valley` on (rates, smoothed losses): the longest decreasing subsequence of the
    losses, then the rate at its start + 1/3 + 1/6 of its length (None for fewer than 2 points)."""
    n = len(losses)
    if n < 2:
        return None
    lds = [1] * n  # length of the longest decreasing run ending at i
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return lrs[max(0, max_start) + int(sections) + int(sections / 2)]


def steepest(lrs: list[float], losses: list[float]) -> float | None:
    """fastai's `steep`: the rate at the most negative d(loss) / d(log lr) (None: < 2 points)."""
    if len(losses) < 2:
        return None
    slopes = [
        (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        for i in range(len(losses) - 1)
    ]
    return lrs[min(range(len(slopes)), key=slopes.__getitem__)]


SUGGESTERS = {"steepest": steepest, "valley": valley}


def suggest(lrs: list[float], smoothed: list[float], method: str = METHOD) -> float | None:
    """The suggestion from a ramp by `method` ("steepest" or "valley") on fastai's window (the
    first tenth and the last five steps left out: the start is flat, the end the blow-up), ended
    at the smoothed loss's lowest point before its first blow-up (a rise of BLOWUP_RISE over its
    lowest so far): a batch-norm net's loss can blow up and then recover at higher rates
    (measured on `shapes` with SGD), and that recovery is no rate to train at."""
    n = len(lrs)
    end, lowest = n, 0
    for i, value in enumerate(smoothed):
        if value < smoothed[lowest]:
            lowest = i
        elif value > BLOWUP_RISE * smoothed[lowest]:
            end = i
            break
    lo, hi = n // 10, min(n - 5, end, lowest + 1)
    if hi - lo < 2:
        lo, hi = 0, n
    return SUGGESTERS[method](lrs[lo:hi], smoothed[lo:hi])


def _ramp(start_lr: float, end_lr: float, steps: int) -> Callable[[int], float]:
    """Step i -> start_lr * (end_lr / start_lr) ** (i / (steps - 1)) (the rate, the base lr = 1)."""
    ratio = end_lr / start_lr
    return lambda i: start_lr * ratio ** (min(i, steps - 1) / max(1, steps - 1))


def finder_config(cfg: RunConfig) -> RunConfig:
    """`cfg` with what the range test replaces set to fixed values (the rate and its schedule,
    the epochs, no compile): two configs that differ only there give the same test."""
    tc = dataclasses.replace(cfg.train, lr=1.0, schedule="constant", epochs=1, compile="off")
    return dataclasses.replace(cfg, train=tc, note="")


def lr_find(
    cfg: RunConfig,
    dataset: Any,
    *,
    steps: int = 100,
    start_lr: float = 1e-5,
    end_lr: float = 10.0,
    threads: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> LRFinding:
    """Run the range test of `cfg` (its model, optimizer, batch size, augmentation, ...) on
    `dataset` (an ImageDataset). `threads` None keeps this process's thread count (the app's);
    else as `TrainConfig.threads`. Raises ValueError for an empty training split or bad bounds."""
    from cnnlab.models import build_model
    from cnnlab.train_state import epoch_order
    from cnnlab.train_step import step
    from cnnlab.training import setup

    if not 0 < start_lr < end_lr or steps < 2:
        raise ValueError("the ramp needs 0 < start_lr < end_lr and at least 2 steps")
    threads_before = torch.get_num_threads()
    cfg = finder_config(cfg)
    tc = dataclasses.replace(cfg.train, threads=threads or threads_before)
    cfg = dataclasses.replace(cfg, train=tc)
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    t0 = time.perf_counter()
    try:
        torch.manual_seed(tc.seed)  # the same initial weights as a run with this seed
        model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
        state = setup(cfg, dataset, model)
        ramp = _ramp(start_lr, end_lr, steps)
        state.scheduler = torch.optim.lr_scheduler.LambdaLR(state.optimizer, ramp)
        model.train()
        lrs, losses, smoothed, diverged = [], [], [], False
        split, order, b = state.train_split, torch.zeros(0, dtype=torch.long), 0
        while len(lrs) < steps and not should_stop():
            if (b + 1) * state.batch_size > len(order):  # a new pass over the images
                order, b = epoch_order(state, len(split.x)).to(split.x.device), 0
            idx = order[b * state.batch_size : (b + 1) * state.batch_size]
            lr = state.scheduler.get_last_lr()[0]
            _, bad, loss, _ = step(state, tc, split.x[idx], split.y[idx], 0)
            b += 1
            value = float(loss)
            if bad or not math.isfinite(value):
                diverged = True
                break
            lrs.append(lr)
            losses.append(value)
            smoothed = smooth_losses(losses)
            if len(smoothed) > 1 and smoothed[-1] > DIVERGE_FACTOR * min(smoothed):
                diverged = True
                break
    finally:
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        torch.set_num_threads(threads_before)
    return _finding(lrs, losses, smoothed, diverged, steps, time.perf_counter() - t0)


def _finding(
    lrs: list[float],
    losses: list[float],
    smoothed: list[float],
    diverged: bool,
    steps: int,
    seconds: float,
) -> LRFinding:
    suggestion = suggest(lrs, smoothed)
    if suggestion is None:
        message = "the loss diverged at once: try a lower starting rate or a smaller model"
    elif diverged:
        message = f"the loss diverged after {len(lrs)} of {steps} steps (at lr {lrs[-1]:.3g})"
    else:
        message = f"{len(lrs)} steps: the loss did not blow up by lr {lrs[-1]:.3g}"
    return LRFinding(lrs, losses, smoothed, suggestion, METHOD, diverged, steps, seconds, message)
