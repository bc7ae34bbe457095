"""Time-to-accuracy on this CPU: the pytorch/examples MNIST recipe vs cnnlab's default recipes.

Everything is measured in one run, side by side, because a shared machine's speed drifts: compare
the ratios, and read each figure next to the load average printed with it.

  .venv/bin/python bench/bench_train.py              # MNIST + CIFAR-10 table (about 15-25 min)
  .venv/bin/python bench/bench_train.py --only mnist # or --only cifar
  .venv/bin/python bench/bench_train.py --quick      # CI smoke test on data subsets, < 2 min

Sections: a matmul peak (GFLOP/s the CPU reaches on a 2048x2048 float32 product); dataset load
times (cold = empty cache folder, then cached); MNIST reference vs cnnlab (`default_run_config`
through `cnnlab.training.train`), the test set evaluated every `--eval-every` training images
(evaluation time excluded from training time and reported apart); the same cnnlab recipe through
the app's job system (`JobManager.submit` -> child process -> run folder) vs `execute_run` in this
process; CIFAR-10 from the JPEG zip. `--set train.lr=0.3` (repeatable) changes the cnnlab recipe,
so each lever in RESULTS.md can be re-measured. Data: $CNNLAB_DATA or `--data`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]
# As `python -m cnnlab` (so every job) does, before torch loads OpenMP: idle OpenMP threads sleep
# instead of spinning. The reference runs in this process, so it gets the same setting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import reference_mnist as ref  # noqa: E402
import torch  # noqa: E402

from cnnlab.config import DataConfig, RunConfig  # noqa: E402
from cnnlab.data import CIFAR10_ZIP, ImageDataset, data_root, load_dataset  # noqa: E402
from cnnlab.device import pick_device  # noqa: E402
from cnnlab.events import BatchEvent, EndEvent, StartEvent  # noqa: E402
from cnnlab.models import build_model  # noqa: E402
from cnnlab.recipes import default_run_config  # noqa: E402
from cnnlab.runs import ACTIVE, Run, create_run, get_run, jobs  # noqa: E402
from cnnlab.runs.jobs import JobManager  # noqa: E402
from cnnlab.runs.runner import execute_run  # noqa: E402
from cnnlab.summary import summarize  # noqa: E402
from cnnlab.training import evaluate_split, train  # noqa: E402

MNIST_TARGETS = (0.98, 0.99)
CIFAR_TARGETS = (0.70, 0.80, 0.85, 0.90)
# CIFAR-10's recipe before AirNet (fastnet width 2, 20 epochs; issue 18 item 4), measured beside
# the default in every full run: the same lr, batch, label smoothing and weight decay.
OLD_CIFAR = {
    "model.name": "fastnet",
    "model.width": 2.0,
    "model.flip_tta": False,
    "model.shift_tta": False,
    "augment.crop_padding": 4,
    "train.epochs": 20,
    "train.lookahead": False,
}


def load() -> float:
    return os.getloadavg()[0]


# ---- accuracy over training time ------------------------------------------------------------


@dataclass
class Curve:
    """Test accuracy every `every` training images; training time excludes the evaluations."""

    evaluate: Callable[[], float]  # -> test accuracy in [0, 1]
    every: int  # training images between evaluations
    stop_at: float | None = None  # accuracy at which the caller may stop training
    points: list[tuple[int, float, float]] = field(default_factory=list)  # (images, train s, acc)
    eval_s: float = 0.0  # wall seconds spent evaluating
    t0: float = 0.0
    cpu0: float = 0.0
    eval_cpu_s: float = 0.0
    next_at: int = 0

    def begin(self) -> None:
        self.t0, self.cpu0, self.next_at = time.perf_counter(), time.process_time(), self.every

    def train_s(self) -> float:
        return time.perf_counter() - self.t0 - self.eval_s

    def train_cpu_s(self) -> float:
        return time.process_time() - self.cpu0 - self.eval_cpu_s

    def measure(self, images: int) -> None:
        train_s = self.train_s()
        t, cpu = time.perf_counter(), time.process_time()
        acc = self.evaluate()
        self.eval_s += time.perf_counter() - t
        self.eval_cpu_s += time.process_time() - cpu
        self.points.append((images, train_s, acc))

    def tick(self, images: int) -> bool:
        """After a training step; evaluates when due. True once `stop_at` is reached."""
        if images >= self.next_at:
            self.measure(images)
            self.next_at = (images // self.every + 1) * self.every
        return self.stop_at is not None and bool(self.points) and self.points[-1][2] >= self.stop_at

    def time_to(self, target: float) -> float | None:
        return next((s for _, s, acc in self.points if acc >= target), None)


@dataclass
class Result:
    name: str
    curve: Curve
    images: int  # training images processed
    train_s: float  # wall seconds of training (evaluations excluded)
    train_cpu_s: float  # process CPU seconds of training (evaluations excluded)
    final_acc: float
    mult_adds: int  # per image, forward
    note: str = ""
    load: float = field(default_factory=load)

    @property
    def images_per_s(self) -> float:
        return self.images / max(self.train_s, 1e-9)

    @property
    def gflops(self) -> float:  # forward + backward = 3 x forward; 2 FLOP per multiply-add
        return self.mult_adds * 2 * 3 * self.images_per_s / 1e9


# ---- the reference --------------------------------------------------------------------------


def run_reference(
    root: Path, *, every: int, max_epochs: int, train_limit: int, test_limit: int, stop_at: float
) -> Result:
    torch.manual_seed(1)
    train_loader, test_loader = ref.make_loaders(root)
    if train_limit or test_limit:  # --quick: subsets, same loaders otherwise
        train_loader, test_loader = _subset_loaders(
            train_loader, test_loader, train_limit, test_limit
        )
    model = ref.Net()
    optimizer, scheduler = ref.make_optimizer(model)
    curve = Curve(lambda: ref.test(model, test_loader)[1], every, stop_at)
    n = len(train_loader.dataset)
    seen = {"images": 0, "stop": False}
    curve.begin()
    for epoch in range(max_epochs):

        def on_step(step: int, epoch: int = epoch) -> bool:
            seen["images"] = epoch * n + min(step * ref.BATCH_SIZE, n)
            seen["stop"] = curve.tick(seen["images"])
            return seen["stop"]

        ref.train_epoch(model, train_loader, optimizer, on_step=on_step)
        scheduler.step()
        if seen["stop"]:
            break
    train_s, train_cpu_s = curve.train_s(), curve.train_cpu_s()
    if not curve.points or curve.points[-1][0] != seen["images"]:
        curve.measure(seen["images"])
    epochs = seen["images"] / n
    note = f"{epochs:.2f} epochs of {n} images" + (
        f", stopped at {stop_at:.1%}" if seen["stop"] else ""
    )
    return Result(
        "reference (pytorch/examples)",
        curve,
        seen["images"],
        train_s,
        train_cpu_s,
        curve.points[-1][2],
        summarize(model, (1, 28, 28)).total_mult_adds,
        note,
    )


def _subset_loaders(
    train_loader: Any, test_loader: Any, train_limit: int, test_limit: int
) -> tuple[Any, Any]:
    from torch.utils.data import DataLoader, Subset

    train_set, test_set = train_loader.dataset, test_loader.dataset
    if train_limit:
        train_set = Subset(train_set, range(min(train_limit, len(train_set))))
    if test_limit:
        test_set = Subset(test_set, range(min(test_limit, len(test_set))))
    generator = torch.Generator().manual_seed(1)
    return (
        DataLoader(train_set, batch_size=ref.BATCH_SIZE, shuffle=True, generator=generator),
        DataLoader(test_set, batch_size=ref.TEST_BATCH_SIZE),
    )


# ---- cnnlab in this process -------------------------------------------------------------------


def run_cnnlab(
    name: str, cfg: RunConfig, dataset: ImageDataset, *, every: int, test_limit: int = 0
) -> Result:
    """The recipe through `cnnlab.training.train`, the test set evaluated every `every` images."""
    torch.manual_seed(cfg.train.seed)  # as the runner does: the model init depends on the seed
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    mult_adds = summarize(model, dataset.input_shape).total_mult_adds
    test_x, test_y = dataset.test.x, dataset.test.y
    if test_limit:
        test_x, test_y = test_x[:test_limit], test_y[:test_limit]
    device = pick_device(cfg.train.device)

    def evaluate() -> float:  # fp32, as the app's test metric and inference
        return evaluate_split(model, test_x, test_y, 1000, device, cfg.train.channels_last)[1]

    curve = Curve(evaluate, every)
    n = len(dataset.train.y)
    shape = {"steps_per_epoch": 1, "batch_size": 1, "images": 0}

    def emit(event: Any) -> None:  # typed events (cnnlab.events)
        if event.kind == "start":
            shape.update(steps_per_epoch=event.steps_per_epoch, batch_size=event.batch_size)
            curve.begin()
        elif event.kind == "batch":
            in_epoch = event.step - (event.epoch - 1) * shape["steps_per_epoch"]
            shape["images"] = (event.epoch - 1) * n + min(in_epoch * shape["batch_size"], n)
            curve.tick(shape["images"])

    # One batch event per step so the curve is sampled on time; events cost microseconds.
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_events_per_s=0))
    result = train(cfg, dataset, model, emit=emit)
    train_s, train_cpu_s = curve.train_s(), curve.train_cpu_s()
    curve.measure(shape["images"])  # the best-validation weights train() ends with
    note = (
        f"{result.epochs_done} epoch(s) of {n} images, batch {cfg.train.batch_size}, "
        f"{cfg.train.precision}, {torch.get_num_threads()} threads"
    )
    return Result(
        name, curve, shape["images"], train_s, train_cpu_s, curve.points[-1][2], mult_adds, note
    )


# ---- cnnlab through the app's job system ------------------------------------------------------


@dataclass
class JobFigures:
    how: str
    first_batch_s: float  # from submit (or create_run) to the first batch event
    images_per_s: float  # from the batch events, inside epochs (validation excluded)
    total_s: float  # from submit to the run's end
    test_acc: float
    load: float = field(default_factory=load)


def events_images_per_s(events: list[Any], batch_size: int) -> float:
    """Images/s between the first and last batch event of each epoch, summed over epochs."""
    images, seconds = 0.0, 0.0
    all_batches = [e for e in events if isinstance(e, BatchEvent)]
    for epoch in {e.epoch for e in all_batches}:
        batches = [e for e in all_batches if e.epoch == epoch]
        if len(batches) >= 2:
            images += (batches[-1].step - batches[0].step) * batch_size
            seconds += batches[-1].elapsed - batches[0].elapsed
    return images / seconds if seconds > 0 else math.nan


def _figures(how: str, run: Run, submitted: float) -> JobFigures:
    events = run.read_events()[0]
    start = next(e for e in events if isinstance(e, StartEvent))
    first = next(e for e in events if isinstance(e, BatchEvent))
    end = next(e for e in reversed(events) if isinstance(e, EndEvent))
    return JobFigures(
        how,
        first.time - submitted,
        events_images_per_s(events, start.batch_size),
        end.time - submitted,
        float(run.metrics().get("test_acc", math.nan)),
    )


def run_in_process(cfg: RunConfig, runs_dir: Path) -> JobFigures:
    submitted = time.time()
    run = create_run(cfg, runs_dir)
    execute_run(run)
    return _figures("in-process (execute_run)", run, submitted)


def run_cli(cfg: RunConfig, runs_dir: Path) -> JobFigures:
    """The CLI in a new process (`python -m cnnlab train --run-dir RUN`, all cores, nice 0): the
    issue's baseline for the app's job path (the same run folder, events and engine)."""
    run = create_run(cfg, runs_dir)
    submitted = time.time()
    command = [sys.executable, "-m", "cnnlab", "--runs-dir", str(runs_dir), "train"]
    subprocess.run([*command, "--run-dir", str(run.path), "--quiet"], check=True, cwd=REPO)
    return _figures("CLI, new process", run, submitted)


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _wait_until_warm(manager: JobManager, timeout: float = 60.0) -> None:
    """Wait for the warm worker to finish importing torch (its CPU time stops growing)."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        worker = manager._warm  # private: only the benchmark needs to know it is ready
        try:
            ticks = _cpu_ticks(worker.pid) if worker is not None else -1
        except OSError:
            ticks = -1
        if ticks >= 0 and ticks == last:
            return
        last = ticks
        time.sleep(0.5)


def run_job(
    cfg: RunConfig,
    runs_dir: Path,
    *,
    warm: bool,
    niceness: int | None = None,
    wait_warm: bool = True,
    timeout: float = 1800,
) -> JobFigures:
    """One run through JobManager; `niceness` replaces the jobs' priority (default: the app's).

    With `wait_warm` the warm worker has finished importing torch before the submit, as in an app
    that has been up for a while."""
    app_niceness = jobs.JOB_NICENESS
    if niceness is not None:
        jobs.JOB_NICENESS = niceness  # read by the child's preexec function at spawn time
    manager = JobManager(runs_dir, max_parallel=1, warm=warm)
    try:
        if warm and wait_warm:
            _wait_until_warm(manager)
        submitted = time.time()
        run_id = manager.submit(cfg)
        deadline = time.monotonic() + timeout
        while get_run(run_id, runs_dir).status().status in ACTIVE:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {run_id} still running after {timeout:.0f} s")
            time.sleep(0.2)
        how = ("job, warm worker" if warm else "job, new process") + f", nice {jobs.JOB_NICENESS}"
        return _figures(how, get_run(run_id, runs_dir), submitted)
    finally:
        manager.close()
        jobs.JOB_NICENESS = app_niceness


# ---- peaks, load times ---------------------------------------------------------------------


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of a (size x size) @ (size x size) product, at the current thread count."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


@contextmanager
def cache_folder(path: Path) -> Iterator[None]:
    old = os.environ.get("CNNLAB_CACHE")
    os.environ["CNNLAB_CACHE"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CNNLAB_CACHE", None)
        else:
            os.environ["CNNLAB_CACHE"] = old


def timed_loads(data: DataConfig, cache: Path) -> tuple[ImageDataset, float, float]:
    """(dataset, cold seconds with an empty cache folder, cached seconds).

    scikit-learn (the stratified split) is imported first, as the server and the warm job worker
    have it imported already: the figures are the data's, not a one-off 1 s library import."""
    import sklearn.model_selection  # noqa: F401

    with cache_folder(cache):
        t = time.perf_counter()
        load_dataset(data)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        dataset = load_dataset(data)
        return dataset, cold, time.perf_counter() - t


def cifar_subset_root(source: Path, dest: Path, train_per_class: int, test_per_class: int) -> Path:
    """A smaller cifar10-jpg.zip (the first images of each class folder) for --quick."""
    dest.mkdir(parents=True, exist_ok=True)
    taken: dict[tuple[str, str], int] = {}
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest / CIFAR10_ZIP, "w") as out:
        for info in src.infolist():
            parts = info.filename.strip("/").split("/")
            if info.is_dir() or len(parts) < 3:
                continue
            key = (parts[-3], parts[-2])  # (train|test, class)
            limit = train_per_class if key[0] == "train" else test_per_class
            if taken.get(key, 0) < limit:
                taken[key] = taken.get(key, 0) + 1
                out.writestr(info, src.read(info))
    return dest


# ---- recipe overrides -----------------------------------------------------------------------


def apply_overrides(cfg: RunConfig, settings: list[str]) -> RunConfig:
    """`section.field=value` (JSON value, else a string) for section in data/augment/model/train."""
    for setting in settings:
        key, _, text = setting.partition("=")
        section, _, name = key.partition(".")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        part = getattr(cfg, section)
        cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(part, **{name: value})})
    return cfg


# ---- report ---------------------------------------------------------------------------------


def fmt_s(seconds: float | None, bound: float | None = None) -> str:
    if seconds is None:
        return f"not reached (> {bound:.1f})" if bound is not None else "not reached"
    return f"{seconds:.1f}"


def accuracy_table(
    results: list[Result], targets: tuple[float, ...], peaks: tuple[float, float]
) -> str:
    """`peaks`: matmul GFLOP/s in float32 and bfloat16 (bf16 recipes can pass the fp32 one)."""
    head = [
        "run",
        *[f"s to {t:.0%}" for t in targets],
        "final acc",
        "train s",
        "CPU s",
        "images/s",
        "GFLOP/s (% of fp32 / bf16 mm peak)",
        "eval s (excluded)",
        "load",
        "notes",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [
            r.name,
            *[fmt_s(r.curve.time_to(t), r.train_s) for t in targets],
            f"{r.final_acc:.2%}",
            f"{r.train_s:.1f}",
            f"{r.train_cpu_s:.1f}",
            f"{r.images_per_s:,.0f}",
            f"{r.gflops:.1f} ({r.gflops / peaks[0]:.0%} / {r.gflops / peaks[1]:.0%})",
            f"{r.curve.eval_s:.1f}",
            f"{r.load:.1f}",
            r.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speedups(reference: Result, cnnlab: Result, targets: tuple[float, ...]) -> str:
    out = []
    for t in targets:
        a, b = reference.curve.time_to(t), cnnlab.curve.time_to(t)
        if b is None:
            out.append(f"to {t:.0%}: cnnlab did not reach it")
        elif a is None:
            out.append(
                f"to {t:.0%}: > {reference.train_s / b:.1f}x (the reference had not "
                f"reached it after {reference.train_s:.1f} s)"
            )
        else:
            out.append(f"to {t:.0%}: {a / b:.1f}x ({a:.1f} s vs {b:.1f} s)")
    return "; ".join(out)


def job_section(cfg: RunConfig, runs: Path, repeats: int, quick: bool) -> str:
    """The CLI (a new process) vs the app's JobManager paths, and in-process `execute_run` for
    scale; `repeats` interleaved rounds of each."""
    paths: dict[str, Callable[[], JobFigures]] = {
        "CLI, new process (the baseline)": lambda: run_cli(cfg, runs),
        "in-process (execute_run, warm kernels)": lambda: run_in_process(cfg, runs),
        # --quick (CI): nice 0 and no warm-up wait, so busy neighbours cannot stall the smoke test
        "job, warm worker (the app's path)": lambda: run_job(
            cfg, runs, warm=True, niceness=0 if quick else None, wait_warm=not quick
        ),
    }
    if not quick:  # the priority's share and the start-up's share of the difference
        paths["job, warm worker, nice 0"] = lambda: run_job(cfg, runs, warm=True, niceness=0)
        paths["job, new process"] = lambda: run_job(cfg, runs, warm=False)
    rows: dict[str, list[JobFigures]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, run in paths.items():
            rows[name].append(run())
    base = statistics.median(r.images_per_s for r in rows["CLI, new process (the baseline)"])
    lines = [
        f"The MNIST recipe as a run folder: the CLI vs the app's job system (jobs at nice "
        f"{jobs.JOB_NICENESS} unless said; median (best) of {repeats}; images/s inside epochs):",
        "",
        "| path | first batch event, s after submit | images/s | vs the CLI (median) | "
        "total s | test acc | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figures in rows.items():
        ips = [r.images_per_s for r in figures]
        first = [r.first_batch_s for r in figures]
        lines.append(
            f"| {name} | {statistics.median(first):.2f} ({min(first):.2f}) | "
            f"{statistics.median(ips):,.0f} ({max(ips):,.0f}) | "
            f"{statistics.median(ips) / base:.0%} | "
            f"{statistics.median(r.total_s for r in figures):.1f} | {figures[0].test_acc:.2%} | "
            f"{statistics.median(r.load for r in figures):.1f} |"
        )
    return "\n".join(lines)


def curve_text(r: Result) -> str:
    return ", ".join(
        f"{images / 1000:.0f}k img {s:.1f}s {acc:.2%}" for images, s, acc in r.curve.points
    )


# ---- main -----------------------------------------------------------------------------------


def mnist_section(
    args: argparse.Namespace, root: Path, tmp: Path, peaks: tuple[float, float]
) -> list[str]:
    out: list[str] = []
    q = args.quick
    limit, test_limit = (3000, 1000) if q else (0, 0)
    if not (root / "MNIST" / "raw").is_dir():
        return [f"MNIST skipped: no MNIST/raw under {root} (set CNNLAB_DATA or --data)"]
    cfg = apply_overrides(default_run_config("mnist", root=str(root), limit=limit), args.set)
    if args.threads:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=args.threads))
    dataset, cold, cached = timed_loads(cfg.data, tmp / "cache-mnist")
    out.append(f"MNIST load: cold {cold:.2f} s, cached {cached:.2f} s (load {load():.1f})")
    every = args.eval_every or (1000 if q else 7500)
    results = []
    if "reference" not in args.skip:
        results.append(
            run_reference(
                root,
                every=every,
                max_epochs=1 if q else args.ref_epochs,
                train_limit=limit,
                test_limit=test_limit,
                stop_at=0.99,
            )
        )
        print(f"  reference: {curve_text(results[-1])}", flush=True)
    results.append(
        run_cnnlab("cnnlab default recipe", cfg, dataset, every=every, test_limit=test_limit)
    )
    print(f"  cnnlab: {curve_text(results[-1])}", flush=True)
    out += [
        "",
        "MNIST test accuracy over training time (seconds, evaluation excluded):",
        "",
        accuracy_table(results, MNIST_TARGETS, peaks),
    ]
    if len(results) == 2:
        out += [
            "",
            "cnnlab speed-up over the reference: "
            + speedups(results[0], results[1], MNIST_TARGETS),
        ]
    if "job" not in args.skip:
        out += ["", job_section(cfg, tmp / "runs", 1 if q else args.job_repeats, q)]
    return out


def cifar_section(
    args: argparse.Namespace, root: Path, tmp: Path, peaks: tuple[float, float]
) -> list[str]:
    zip_path = root / CIFAR10_ZIP
    if not zip_path.is_file():
        return [f"CIFAR-10 skipped: {zip_path} not found"]
    if args.quick:
        root = cifar_subset_root(zip_path, tmp / "cifar-subset", 100, 20)
    cfg = apply_overrides(default_run_config("cifar10", root=str(root)), args.set)
    if args.threads:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=args.threads))
    if args.quick:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=1))
    dataset, cold, cached = timed_loads(cfg.data, tmp / "cache-cifar")
    what = "subset zip" if args.quick else "cifar10-jpg.zip, 60,000 JPEGs"
    out = [f"CIFAR-10 load ({what}): cold {cold:.2f} s, cached {cached:.2f} s (load {load():.1f})"]
    every = args.eval_every or (500 if args.quick else len(dataset.train.y) // 2)
    results = []
    for name, recipe in cifar_recipes(args, cfg, root):
        results.append(run_cnnlab(name, recipe, dataset, every=every))
        print(f"  {name}: {curve_text(results[-1])}", flush=True)
    out += [
        "",
        "CIFAR-10 test accuracy over training time (seconds, evaluation excluded):",
        "",
        accuracy_table(results, CIFAR_TARGETS, peaks),
    ]
    return out


def cifar_recipes(
    args: argparse.Namespace, cfg: RunConfig, root: Path
) -> list[tuple[str, RunConfig]]:
    """(name, config) of the CIFAR-10 runs: the default recipe (`--set` applies to it and to the
    old one, made from it), and in a full run also the old default (fastnet) and the long recipe
    (`--skip old,long` leaves them out)."""
    runs = [("cnnlab default recipe (airnet width 1.5)", cfg)]
    if args.quick:
        return runs
    if "old" not in args.skip:
        old = apply_overrides(cfg, [f"{k}={json.dumps(v)}" for k, v in OLD_CIFAR.items()])
        runs.insert(0, ("old default recipe (fastnet width 2)", old))
    if "long" not in args.skip:
        long = default_run_config("cifar10", "long", root=str(root))
        long = dataclasses.replace(
            long, train=dataclasses.replace(long.train, threads=cfg.train.threads)
        )
        runs.append(("cnnlab long recipe (airnet width 4)", long))
    return runs


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    return (
        f"{os.cpu_count()} cores, {model}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {datetime.datetime.now():%Y-%m-%d %H:%M}; "
        f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke test on subsets (< 2 min)")
    parser.add_argument("--only", choices=["mnist", "cifar"], help="run one dataset's section")
    parser.add_argument("--data", help="data root (default: $CNNLAB_DATA)")
    parser.add_argument(
        "--ref-epochs",
        type=int,
        default=2,
        help="reference: at most this many epochs (it stops at 99%%)",
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="training images between test evaluations (default: 7500 for "
        "MNIST = 1/8 reference epoch, half an epoch for CIFAR)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for every run (default: all cores, as the app)",
    )
    parser.add_argument(
        "--skip", default="", help="comma list of: reference, job, old, long (CIFAR-10 runs)"
    )
    parser.add_argument(
        "--job-repeats", type=int, default=3, help="rounds of the job-system comparison"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="change the cnnlab recipe, e.g. train.lr=0.3 (repeatable)",
    )
    args = parser.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.threads:
        torch.set_num_threads(args.threads)
    root = data_root(args.data)
    started = time.perf_counter()
    peaks = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    lines = [
        f"Machine: {machine()}",
        f"matmul peak (2048x2048, best of 5): float32 {peaks[0]:.0f} GFLOP/s, "
        f"bfloat16 {peaks[1]:.0f} GFLOP/s",
        "",
    ]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-") as tmp:
        if args.only in (None, "mnist"):
            lines += mnist_section(args, root, Path(tmp), peaks) + [""]
        if args.only in (None, "cifar"):
            lines += cifar_section(args, root, Path(tmp), peaks) + [""]
    lines.append(
        f"Benchmark wall time {time.perf_counter() - started:.0f} s; "
        f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
