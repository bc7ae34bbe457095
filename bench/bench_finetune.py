"""Fine-tuning against scratch: an MNIST run's weights on a small folder of rendered digits
(tests/digit_maker.py: fonts, colours, backgrounds; not MNIST), the same network and budget.

    CNNLAB_DATA=../shared/data python bench/bench_finetune.py [--per-class 50] [--epochs 2]
        [--seeds 3] [--quick]

Prints test accuracy per start (scratch, all layers from MNIST, MNIST with the body frozen, MNIST
with the pre-trained lr x0.3) and seed, and the mean. `--quick` = 1 seed, 20 images per class.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnlab.config import (  # noqa: E402
    AugmentConfig,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    WatchConfig,  # noqa: E402
)
from cnnlab.data import load_dataset  # noqa: E402
from cnnlab.finetune import HEAD_ONLY, prepare  # noqa: E402
from cnnlab.models import build_model  # noqa: E402
from cnnlab.recipes import default_run_config  # noqa: E402
from cnnlab.runs import create_run  # noqa: E402
from cnnlab.runs.runner import execute_run  # noqa: E402
from cnnlab.training import evaluate_split, train  # noqa: E402
from tests.digit_maker import make_digit_folder  # noqa: E402

QUIET = WatchConfig(snapshots=False, embedding_points=0, norms_every=0)
FAST = dict(batch_events_per_s=0.0, checkpoint_every=0, precision="fp32")


def starts(source: str) -> dict[str, ModelConfig]:
    return {
        "scratch": ModelConfig(name="classic"),
        "from MNIST": ModelConfig(name="classic", init_from=source),
        "from MNIST, head only": ModelConfig(
            name="classic", init_from=source, freeze_up_to=HEAD_ONLY
        ),
        "from MNIST, lr x0.3": ModelConfig(
            name="classic", init_from=source, pretrained_lr_scale=0.3
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.per_class, args.seeds = 20, 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    src = default_run_config("mnist", limit=3000)
    src = dataclasses.replace(
        src, model=ModelConfig(name="classic"), train=TrainConfig(epochs=1, **FAST), watch=QUIET
    )
    run = create_run(src, tmp / "runs")
    assert execute_run(run) == "finished", run.status().message
    folder = make_digit_folder(tmp / "digits", args.per_class, seed=3)
    data = DataConfig(name="folder", path=str(folder), image_size=28, test_fraction=0.5)
    dataset = load_dataset(data)
    print(f"MNIST source: test accuracy {run.metrics()['test_acc']:.3f}; folder: "
          f"{len(dataset.train)} train, {len(dataset.test)} test; {args.epochs} epochs each")  # fmt: skip
    print(f"{'start':<24}" + "".join(f"  seed {s}" for s in range(args.seeds)) + "    mean")
    for name, model_cfg in starts(run.run_id).items():
        accs = []
        for seed in range(args.seeds):
            budget = TrainConfig(epochs=args.epochs, batch_size=32, seed=seed, **FAST)
            torch.manual_seed(seed)
            model = build_model(model_cfg, dataset.preprocess, dataset.num_classes)
            prepare(model, model_cfg, class_names=dataset.class_names, runs_dir=tmp / "runs")
            cfg = RunConfig(data=data, augment=AugmentConfig(), model=model_cfg, train=budget)
            train(cfg, dataset, model, emit=lambda e: None)
            x, y = dataset.test.x, dataset.test.y
            accs.append(evaluate_split(model, x, y, 512, torch.device("cpu"))[1])
        row = "".join(f"  {a:6.3f}" for a in accs)
        print(f"{name:<24}{row}  {sum(accs) / len(accs):6.3f}")


if __name__ == "__main__":
    main()
