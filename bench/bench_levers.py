"""Speed levers of the training step, measured side by side: images/s of one optimiser step.

  .venv/bin/python bench/bench_levers.py              # MNIST-shaped batches (1x28x28)
  .venv/bin/python bench/bench_levers.py --cifar      # CIFAR-shaped batches (3x32x32)

Each lever changes one thing from the MNIST recipe's setup (fastnet, batch 256, channels_last,
bf16, all cores, SGD) and is timed in interleaved rounds in one process, best round kept, so a
shared machine's drift hits all of them alike. Reports wall images/s, the ratio to the recipe,
and images per CPU-second (which shows threads that spin instead of working). The OpenMP wait
policy is read when torch loads, so that lever runs this script again in a child process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `python -m cnnlab` (see bench_train.py)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cnnlab.config import ModelConfig, Preprocess  # noqa: E402
from cnnlab.device import autocast  # noqa: E402
from cnnlab.models import FASTNET_WIDTHS, Classifier, Scale, build_model, conv_block  # noqa: E402


@dataclass(frozen=True)
class Setup:
    model: str = "fastnet"  # fastnet, fastnet-relu, fastnet-old (conv-bn-act-pool order)
    width: float = 1.0
    batch_size: int = 256
    channels_last: bool = True
    precision: str = "bf16"
    threads: int = 0  # 0 = all cores
    item_per_step: bool = True  # loss.item() every step, as the engine does
    compiled: bool = False  # torch.compile (its compile time is reported apart)


def old_fastnet(shape: tuple[int, int, int], width: float) -> nn.Module:
    """fastnet before this benchmark: conv -> bn -> GELU -> pool blocks (pool after activation)."""
    widths = [max(1, round(w * width)) for w in FASTNET_WIDTHS]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch = shape[0]
    for i, out_ch in enumerate(widths):
        pool = "max" if i < len(widths) - 1 else "none"
        layers[f"b{i}"] = conv_block(
            in_ch, out_ch, 3, batch_norm=True, activation="gelu", pool=pool
        )
        in_ch = out_ch
    layers["head"] = nn.Sequential(
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(in_ch, 10, bias=False), Scale(1 / 9)
    )
    return nn.Sequential(layers)


def make_model(setup: Setup, shape: tuple[int, int, int]) -> nn.Module:
    preprocess = Preprocess(input_shape=shape, mean=(0.5,) * shape[0], std=(0.25,) * shape[0])
    torch.manual_seed(0)
    if setup.model == "fastnet-old":
        return Classifier(
            old_fastnet(shape, setup.width),
            preprocess,
            model_name="old",
            num_classes=10,
            pretrained_note="",
        )
    model = build_model(ModelConfig(name="fastnet", width=setup.width), preprocess, 10)
    if setup.model == "fastnet-relu":
        for block in model.net:
            if hasattr(block, "act"):
                block.act = nn.ReLU()
    return model


def step_fn(setup: Setup, shape: tuple[int, int, int]) -> tuple[Callable[[], None], float]:
    """A closure running one training step, and the seconds spent compiling (0 without)."""
    model = make_model(setup, shape)
    memory = torch.channels_last if setup.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    x = torch.rand(setup.batch_size, *shape).contiguous(memory_format=memory)
    y = torch.randint(0, 10, (setup.batch_size,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    forward = torch.compile(model) if setup.compiled else model
    device = torch.device("cpu")

    def step() -> None:
        with autocast(device, setup.precision):
            logits = forward(x).float()
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if setup.item_per_step:
            loss.item()

    t = time.perf_counter()
    if setup.compiled:
        step()  # compiles forward and backward
    return step, time.perf_counter() - t if setup.compiled else 0.0


def measure(step: Callable[[], None], batch_size: int, steps: int) -> tuple[float, float]:
    """(images/s, images per CPU-second) over `steps` steps after one warm-up step."""
    step()
    t, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    return steps * batch_size / wall, steps * batch_size / max(cpu_s, 1e-9)


def levers(base: Setup) -> dict[str, Setup]:
    return {
        "recipe (fastnet, bf16, channels_last, batch 256, all cores)": base,
        "fp32 instead of bf16": replace(base, precision="fp32"),
        "NCHW instead of channels_last": replace(base, channels_last=False),
        "NCHW and fp32": replace(base, channels_last=False, precision="fp32"),
        "1 thread": replace(base, threads=1),
        "old fastnet order (conv-bn-act-pool)": replace(base, model="fastnet-old"),
        "old fastnet order, fp32": replace(base, model="fastnet-old", precision="fp32"),
        "ReLU instead of GELU": replace(base, model="fastnet-relu"),
        "width 1.5 (24-48-96-192)": replace(base, width=1.5),
        "batch 128": replace(base, batch_size=128),
        "batch 512": replace(base, batch_size=512),
        "no loss.item() per step": replace(base, item_per_step=False),
    }


def run(shape: tuple[int, int, int], rounds: int, steps: int, compile_too: bool) -> list[str]:
    cores = os.cpu_count() or 1
    base = Setup()
    table = levers(base)
    if compile_too:
        table["torch.compile (compile time apart)"] = replace(base, compiled=True)
    best: dict[str, tuple[float, float]] = {}
    compile_s = 0.0
    steppers = {}
    for name, setup in table.items():
        torch.set_num_threads(setup.threads or cores)
        steppers[name], seconds = step_fn(setup, shape)
        compile_s += seconds
    for _ in range(rounds):
        for name, setup in table.items():
            torch.set_num_threads(setup.threads or cores)
            ips, per_cpu = measure(steppers[name], setup.batch_size, steps)
            if ips > best.get(name, (0.0, 0.0))[0]:
                best[name] = (ips, per_cpu)
    ref = best[next(iter(table))][0]
    lines = ["| lever | images/s | vs recipe | images per CPU-s |", "|---|---|---|---|"]
    for name, (ips, per_cpu) in best.items():
        lines.append(f"| {name} | {ips:,.0f} | {ips / ref:.2f}x | {per_cpu:,.0f} |")
    if compile_too:
        lines.append(f"\ntorch.compile took {compile_s:.1f} s before its first step")
    return lines


def eval_rows(shape: tuple[int, int, int], rounds: int) -> list[str]:
    """Evaluation forward passes (inference_mode, eval mode) by batch size and precision."""
    model = make_model(Setup(), shape).eval().to(memory_format=torch.channels_last)
    x = torch.rand(2048, *shape).contiguous(memory_format=torch.channels_last)
    lines = ["| evaluation batch | fp32 images/s | bf16 images/s |", "|---|---|---|"]
    for batch in (64, 256, 1024):
        cells = []
        for precision in ("fp32", "bf16"):
            best = 0.0
            for _ in range(rounds):
                t = time.perf_counter()
                with torch.inference_mode(), autocast(torch.device("cpu"), precision):
                    for start in range(0, len(x), batch):
                        model(x[start : start + batch])
                best = max(best, len(x) / (time.perf_counter() - t))
            cells.append(f"{best:,.0f}")
        lines.append(f"| {batch} | {' | '.join(cells)} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", action="store_true", help="3x32x32 batches instead of 1x28x28")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = (3, 32, 32) if args.cifar else (1, 28, 28)
    if args.child:  # the OpenMP wait-policy lever: recipe setup only, policy from the environment
        step, _ = step_fn(Setup(), shape)
        torch.set_num_threads(os.cpu_count() or 1)
        ips, per_cpu = max(measure(step, 256, args.steps) for _ in range(args.rounds))
        print(f"{ips:.0f} {per_cpu:.0f}")
        return 0
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; batches {shape}")
    print("\n".join(run(shape, args.rounds, args.steps, args.compile)))
    torch.set_num_threads(os.cpu_count() or 1)
    print("\n".join(["", *eval_rows(shape, args.rounds)]))
    print("\nOpenMP wait policy (recipe setup, child processes, best of rounds):")
    for policy in ("PASSIVE", "ACTIVE"):
        env = {**os.environ, "OMP_WAIT_POLICY": policy}
        child = [
            sys.executable,
            __file__,
            "--child",
            "--rounds",
            str(args.rounds),
            "--steps",
            str(args.steps),
        ] + (["--cifar"] if args.cifar else [])
        out = subprocess.run(child, env=env, capture_output=True, text=True, check=True).stdout
        ips, per_cpu = (float(v) for v in out.split()[-2:])
        print(f"  OMP_WAIT_POLICY={policy}: {ips:,.0f} images/s, {per_cpu:,.0f} per CPU-s")
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
