"""A warm job process: `python -m cnnlab.runs.worker` (started by cnnlab/warm.py and the job manager).

Before it is handed a run it pays every one-time cost it can: imports (torch, scikit-learn, the
training modules), the quick start's dataset (the recipe's shapes set, through the same
`load_dataset`), and one forward and backward pass of the quick-start model (oneDNN builds its
kernels on first use). Then it reads one "RUN_DIR<TAB>resume" line from stdin and trains that run
exactly as `python -m cnnlab train --run-dir RUN_DIR` would (cnnlab/runs/runner.py).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import sklearn.model_selection  # noqa: F401 - the splits use it; ~1-3 s to import
import torch
import torch.nn.functional as F

from cnnlab import data, summary, training  # noqa: F401 - imported here, not after the click
from cnnlab.config import DataConfig
from cnnlab.device import set_threads
from cnnlab.models import build_model
from cnnlab.recipes import default_run_config
from cnnlab.runs import run_from_dir, runner
from cnnlab.warm import JOB_NICENESS, NICENESS_ENV


def preload_quick_start() -> tuple[DataConfig, Any]:
    """The quick start's dataset (Home's button trains `default_run_config("shapes")`), and a
    warm-up step of its model; returns (its data config, the dataset)."""
    cfg = default_run_config("shapes")
    dataset = data.load_dataset(cfg.data)
    set_threads(cfg.train.threads)  # kernels are built per thread count: the job's count
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    x = dataset.train.x[: cfg.train.batch_size].float().div_(255.0)  # (B, C, H, W) in [0, 1]
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    F.cross_entropy(model(x), dataset.train.y[: len(x)].long()).backward()
    summary.summarize(model, dataset.input_shape)  # the run's metadata does this too
    return cfg.data, dataset


def reuse_dataset(preloaded: DataConfig, dataset: Any) -> None:
    """Let this process's one run get the preloaded dataset when it asks for the same config.

    `runner.execute_run` calls `cnnlab.data.load_dataset` (looked up when it runs); the dataset is
    rebuilt identically from its config (seeded), so handing over the copy made ahead changes
    nothing but the time. Any other config loads as usual.
    """
    load = data.load_dataset

    def load_dataset(cfg: DataConfig, *, owner: str | None = None) -> Any:
        if cfg == preloaded and owner is None:
            return dataset
        return load(cfg, owner=owner)

    data.load_dataset = load_dataset


def main() -> int:
    try:
        reuse_dataset(*preload_quick_start())
    except Exception:  # noqa: BLE001 - a warm-up that fails only costs the time it saves
        pass
    line = sys.stdin.readline().strip()
    if not line:
        return 0  # the server went away before handing us a job
    run_dir, resume = line.split("\t")
    try:
        os.nice(int(os.environ.get(NICENESS_ENV, JOB_NICENESS)))  # train below the server
    except (OSError, ValueError):
        pass
    run = run_from_dir(run_dir)
    log = os.open(run.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if run.config().train.nproc > 1:  # torchrun's agent in this process (cnnlab/distributed.py)
        from cnnlab.distributed import launch

        status = launch(run, resume=resume == "1")
    else:
        status = runner.execute_run(run, resume=resume == "1")
    return 0 if status in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
