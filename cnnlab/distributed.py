"""One run across processes: torchrun (`torch.distributed.run`) and DistributedDataParallel.

A run whose config says `train.nproc > 1` (`cnnlab train --nproc N`, or the app's "processes"
option) is started by `launch`: this process becomes torchrun's agent (in-process
`torch.distributed.run.run`, `--standalone`, no restarts) and starts N copies of
`python -m cnnlab train --run-dir RUN` with RANK / WORLD_SIZE / LOCAL_RANK set. Each copy calls
`execute_rank`: rank 0 is the run's job as always (`runner.execute_run`: events, status,
checkpoints, weights without the `module.` prefix, monitors, the test), the other ranks train
in silence (`follow`) and write nothing. Gloo on CPUs, NCCL on GPUs (one per rank).

Ending together: each step every rank all-reduces two numbers after its forward pass (a stop
request or time limit, and a non-finite loss; `Collective.agree`), so all take the step or none
does, and no rank is left waiting in the gradients' all-reduce. Validation runs on every rank
on identical weights and batch-norm buffers (broadcast from rank 0 at each epoch's end), so
early stopping decides alike everywhere.

A rank that dies: torchrun's agent polls its workers every MONITOR_S seconds; when one exits
badly it terminates the others and raises `ChildFailedError`, which `launch` turns into the
run's failed status naming the rank and its exit code or signal (about a second on this
machine). A rank that hangs instead: every collective times out after TIMEOUT_S
(`init_process_group(timeout=)`), its rank fails, and the same path follows. Every rank also
asks Linux to SIGTERM it when the agent dies, so no orphan keeps training.

Multi-node: create the run once on the shared runs folder (`cnnlab train ... --create-only`),
then start `torchrun --nnodes ... --rdzv-endpoint ... -m cnnlab train --run-dir RUN` on every
node (README, "Many processes, many machines").
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
from torch import nn

MONITOR_S = 0.5  # torchrun's agent checks its workers this often
TIMEOUT_S = float(os.environ.get("CNNLAB_DIST_TIMEOUT_S", 60))  # a collective waits this long


def env_rank() -> int | None:
    """This process's rank when torchrun started it (WORLD_SIZE > 1), else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return None
    return int(os.environ["RANK"])


def gpu_count() -> int:
    """CUDA GPUs here (the app offers several processes only where there are two or more)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@dataclass
class Collective:
    """What `cnnlab.training` asks of the other ranks (see the module docstring)."""

    rank: int
    world: int
    device: torch.device  # this rank's: cuda:LOCAL_RANK, or the CPU

    def wrap(self, model: nn.Module) -> nn.Module:
        """The DDP wrapper the training step calls (gradients averaged in the backward pass)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def agree(self, stop: int, loss: torch.Tensor) -> tuple[int, bool]:
        """(the largest stop code of any rank, whether any rank's loss is not finite)."""
        flags = torch.stack([torch.full((), float(stop), device=loss.device), ~loss.isfinite()])
        flags = flags.float()
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        code, bad = flags.tolist()  # the one host sync per step of a DDP rank
        return int(code), bool(bad)

    def end_epoch(self, model: nn.Module, totals: Any) -> None:
        """The epoch's sums over every rank into `totals`; rank 0's batch-norm buffers to all
        (each rank's last forward pass updated its own)."""
        sums = torch.tensor(
            [totals.seen, totals.loss_sum, totals.correct], dtype=torch.float64, device=self.device
        )
        torch.distributed.all_reduce(sums)
        seen, loss_sum, correct = sums.tolist()
        totals.seen, totals.loss_sum, totals.correct = int(seen), loss_sum, int(correct)
        for buffer in model.buffers():
            torch.distributed.broadcast(buffer, 0)


def rank_device(name: str, local_rank: int) -> torch.device:
    """The device of local rank `local_rank` for a `train.device` setting."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if name not in ("auto", "cuda") and not name.startswith("cuda"):
        raise ValueError(f"several processes train on CPUs or CUDA GPUs, not on {name!r}")
    if local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"local rank {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
            "lower --nproc (one process per GPU) or train on the CPU (--device cpu)"
        )
    return torch.device("cuda", local_rank)


def init(device_name: str) -> Collective:
    """Join torchrun's process group (env:// rendezvous) as this process's rank."""
    from cnnlab.warm import child_setup

    child_setup(0)  # SIGTERM when the agent dies (PR_SET_PDEATHSIG); priority unchanged
    device = rank_device(device_name, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, timeout=timedelta(seconds=TIMEOUT_S))
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    return Collective(rank, world, device)


def execute_rank(run: Any, *, resume: bool, echo: Any = None) -> str:
    """Train the run as this torchrun rank; returns its status ("failed" on a failure)."""
    from cnnlab.runs.runner import execute_run

    cfg = run.config()
    try:
        collective = init(cfg.train.device)
    except (ValueError, RuntimeError) as exc:  # no GPU for this rank, rendezvous failed
        if env_rank() == 0:
            run.update_status("failed", message=str(exc), ended=time.time())
        raise
    try:
        if collective.rank == 0:
            return execute_run(run, resume=resume, echo=echo, collective=collective)
        return follow(run, resume, collective)
    finally:
        torch.distributed.destroy_process_group()


def follow(run: Any, resume: bool, collective: Collective) -> str:
    """A rank other than 0: the same dataset, model and checkpoint, trained in step with rank 0;
    nothing written. Stops with the others (rank 0 reads the Stop request) or on SIGTERM."""
    import signal

    from cnnlab.data import load_dataset
    from cnnlab.finetune import prepare  # the same frozen blocks and lr groups as rank 0
    from cnnlab.models import build_model
    from cnnlab.training import train

    terminated = {"flag": False}
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.update(flag=True))
    cfg = run.config()
    dataset = load_dataset(cfg.data)
    torch.manual_seed(cfg.train.seed)  # the same initial weights as rank 0 (DDP checks them)
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    prepare(model, cfg.model, class_names=dataset.class_names, runs_dir=run.path.parent)
    result = train(
        cfg,
        dataset,
        model,
        emit=lambda event: None,
        should_stop=lambda: terminated["flag"],
        resume=run.load_checkpoint() if resume else None,
        collective=collective,
    )
    return result.status


def launch(run: Any, *, resume: bool, flags: list[str] | tuple[str, ...] = ()) -> str:
    """Train `run` with `train.nproc` processes on this machine through torchrun; waits for
    them and returns the run's final status. `flags` go to rank 0's `cnnlab train` (--quiet,
    --json)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args
    from torch.distributed.run import run as torchrun

    from cnnlab.runs.status import ACTIVE, Status

    cfg = run.config()
    nproc = cfg.train.nproc
    try:
        rank_device(cfg.train.device, nproc - 1)  # the last local rank has a device
    except ValueError as exc:
        run.update_status(Status.FAILED, message=str(exc), ended=time.time())
        return Status.FAILED.value
    run.update_status(Status.RUNNING, pid=os.getpid(), message=f"starting {nproc} processes")
    share = int(os.environ.get("CNNLAB_THREADS") or 0) or (os.cpu_count() or 1)
    threads = str(max(1, share // nproc))  # the CPU's cores shared between the ranks
    os.environ["CNNLAB_THREADS"] = os.environ["OMP_NUM_THREADS"] = threads
    args = [
        "--standalone",  # a rendezvous on a free local port: parallel jobs never collide
        f"--nproc-per-node={nproc}",
        "--max-restarts=0",
        f"--monitor-interval={MONITOR_S}",
        "-m",
        "cnnlab",
        "train",
        "--run-dir",
        str(run.path),
        *(["--resume"] if resume else []),
        *flags,
    ]
    try:
        torchrun(parse_args(args))
    except ChildFailedError as exc:
        blamed = _blamed(exc.failures)
        if blamed is None and run.status().status in ACTIVE:  # rank 0 ended without a word
            blamed = (0, exc.failures[0].exitcode)
        if blamed is not None and run.status().status in ACTIVE | {
            Status.FAILED,
            Status.INTERRUPTED,
        }:
            run.update_status(
                Status.FAILED, message=_rank_failure(*blamed, nproc), ended=time.time()
            )
    except SignalException as exc:  # the job manager or the server stopped us: ranks ended
        if run.status().status in ACTIVE:
            stopped = run.stop_requested()
            run.update_status(
                Status.STOPPED if stopped else Status.INTERRUPTED,
                ended=time.time(),
                message="stopped by request"
                if stopped
                else f"training was interrupted "
                f"({exc.sigval.name}); resume it from its last checkpoint",
            )
    return run.status().status.value


def _blamed(failures: dict[int, Any]) -> tuple[int, int] | None:
    """(rank, exit code) to name in the run's status, or None when rank 0 said why itself.

    A rank killed by a signal is the cause (the others then fail in a collective: "Connection
    closed by peer"), the earliest one if several. Else, when rank 0 failed, it recorded its
    own error (e.g. out of memory) and the others followed it; else the earliest other rank."""
    killed = {r: f for r, f in failures.items() if f.exitcode < 0}
    if killed:
        rank = min(killed, key=lambda r: killed[r].timestamp)
        return rank, killed[rank].exitcode
    if 0 in failures:
        return None
    rank = min(failures, key=lambda r: failures[r].timestamp)
    return rank, failures[rank].exitcode


def _rank_failure(rank: int, exitcode: int, nproc: int) -> str:
    import signal

    if exitcode < 0:
        how = f"killed by {signal.Signals(-exitcode).name}"
        if exitcode == -signal.SIGKILL:
            how += ", perhaps out of memory"
    else:
        how = f"exit code {exitcode}; its traceback is in the run's log"
    return (
        f"process {rank} of {nproc} (rank {rank}) ended unexpectedly ({how}), so every rank "
        "was stopped; the metrics so far are kept, and it can be resumed from its last checkpoint"
    )
