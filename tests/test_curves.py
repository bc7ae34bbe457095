"""Curves that explain a run (issue 16.3-16.5): the LR finder, per-class validation accuracy,
the norms monitor, the LR schedule, the overfitting mark and the config diff, each checked
against a reference (torch, scikit-learn, pandas, the run's own recorded values)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import recall_score

from cnnlab.cli import main
from cnnlab.config import DataConfig, RunConfig, TrainConfig, WatchConfig, default_runs_dir
from cnnlab.curves import smooth
from cnnlab.data import load_dataset
from cnnlab.events import EpochEvent, NormsEvent, of_kind, read_events
from cnnlab.lrfind import lr_find, smooth_losses, steepest, valley
from cnnlab.models import build_model
from cnnlab.norms import layer_norms, parameter_layers
from cnnlab.recipes import default_run_config
from cnnlab.run_curves import lr_schedule, overfit_start
from cnnlab.runs import create_run, run_history
from cnnlab.runs.compare import class_accuracy, config_diff
from cnnlab.runs.runner import execute_run
from cnnlab.training import evaluate_classes

TINY = DataConfig(name="digits", limit=300)
NO_SNAPSHOTS = WatchConfig(snapshots=False, norms_every=3)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    """One 2-epoch digits run with norms every 3 steps and every batch event recorded."""
    runs = tmp_path_factory.mktemp("runs")
    cfg = RunConfig(
        data=TINY,
        train=TrainConfig(epochs=2, batch_size=32, batch_events_per_s=0, threads=1),
        watch=NO_SNAPSHOTS,
    )
    run = create_run(cfg, runs)
    assert execute_run(run) == "finished"
    return run


def test_norms_monitor_records_every_n_steps_and_matches_torch(tiny_run) -> None:
    events = read_events(tiny_run.path / "events.jsonl")[0]
    norms = of_kind(events, NormsEvent)
    spe = run_history(tiny_run).start.steps_per_epoch
    assert [e.step for e in norms] == [1] + list(range(3, 2 * spe + 1, 3))
    model = build_model(tiny_run.config().model, load_dataset(TINY).preprocess, 10)
    names = [name for name, _ in parameter_layers(model)]
    assert list(norms[-1].layers) == names and len(norms[-1].weight) == len(names)
    # the same sums computed directly with torch, on a model with fresh gradients
    x = torch.rand(4, 1, 8, 8)
    torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
    weight, grad = layer_norms(parameter_layers(model))
    for (name, params), w, g in zip(parameter_layers(model), weight, grad, strict=True):
        flat = torch.cat([p.detach().flatten() for p in params])
        flat_grad = torch.cat([p.grad.flatten() for p in params])
        assert w == pytest.approx(torch.linalg.norm(flat).item(), rel=1e-5), name
        assert g == pytest.approx(torch.linalg.norm(flat_grad).item(), rel=1e-5), name


def test_per_class_validation_accuracy_is_sklearn_recall(tiny_run) -> None:
    epochs = run_history(tiny_run).epochs
    assert all(len(e.val_class_acc) == 10 for e in epochs)
    dataset = load_dataset(TINY)
    model = build_model(tiny_run.config().model, dataset.preprocess, 10)
    model.load_state_dict(tiny_run.load_weights())
    val = dataset.val
    loss, acc, per_class = evaluate_classes(model, val.x, val.y, 64, torch.device("cpu"))
    with torch.inference_mode():
        preds = model.eval()(val.x.float() / 255).argmax(1).numpy()
    labels = val.y.numpy()
    present = np.unique(labels)
    expected = recall_score(labels, preds, labels=present, average=None)
    np.testing.assert_allclose([per_class[k] for k in present], expected, atol=1e-9)
    assert acc == pytest.approx(float((preds == labels).mean()))
    best = run_history(tiny_run).best_epoch
    assert best.val_class_acc == pytest.approx(per_class)  # the kept weights' epoch


def test_lr_schedule_from_the_config_is_the_recorded_one(tiny_run) -> None:
    history = run_history(tiny_run)
    steps, lrs = lr_schedule(tiny_run.config(), history.start.steps_per_epoch)
    by_step = dict(zip(steps, lrs, strict=True))
    recorded = [(b.step + 1, b.lr) for b in history.batches if b.step + 1 in by_step]
    assert len(recorded) >= len(steps) - 1
    for step, lr in recorded:  # a batch event's lr is the one its next step uses
        assert by_step[step] == pytest.approx(lr, rel=1e-9)
    assert max(lrs) == pytest.approx(tiny_run.config().train.lr, rel=0.1)  # onecycle peaks at lr


def _epochs(train: list[float], val: list[float]) -> list[EpochEvent]:
    return [
        EpochEvent(epoch=i + 1, train_loss=t, val_loss=v, val_acc=0.5)
        for i, (t, v) in enumerate(zip(train, val, strict=True))
    ]


def test_overfitting_mark_follows_the_stated_rule() -> None:
    falling = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3]
    assert overfit_start(_epochs(falling, [1.0, 0.9, 0.8, 0.85, 0.9, 0.95])).epoch == 3
    assert overfit_start(_epochs(falling, [1.0, 0.9, 0.8, 0.85, 0.84, 0.95])).epoch is None
    assert overfit_start(_epochs(falling, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5])).epoch is None
    assert overfit_start(_epochs(falling[:2], [1.0, 1.1])).epoch is None  # too few epochs


def test_config_diff_lists_only_differing_dotted_fields() -> None:
    a = RunConfig()
    b = dataclasses.replace(a, train=dataclasses.replace(a.train, lr=0.1, epochs=3))
    c = dataclasses.replace(b, data=dataclasses.replace(a.data, shapes=dataclasses.replace(
        a.data.shapes, noise=0.3)))  # fmt: skip
    diff = config_diff({"a": a, "b": b, "c": c})
    assert list(diff["setting"]) == ["data.shapes.noise", "train.lr"]
    assert diff.set_index("setting").loc["train.lr"].tolist() == ["0.002", "0.1", "0.1"]
    assert config_diff({"a": a, "b": a}).empty


def test_class_comparison_names_runs_without_per_class_accuracy(tiny_run) -> None:
    history = run_history(tiny_run)
    old = dataclasses.replace(history, epochs=[dataclasses.replace(history.epochs[-1],
                                                                   val_class_acc=())])  # fmt: skip
    names = [str(k) for k in range(10)]
    got = class_accuracy({"new": history, "old": old}, {"new": names, "old": names})
    assert got.missing == ["old"] and list(got.table.columns) == ["class", "new"]
    assert got.table["new"].tolist() == pytest.approx(list(history.best_epoch.val_class_acc))


def test_smoothing_and_suggestions_follow_fastai() -> None:
    losses = list(np.random.default_rng(0).uniform(1, 2, 30))
    np.testing.assert_allclose(smooth_losses(losses, 0.9), smooth(losses, 0.9))  # = ewm(adjust)
    lrs = [10 ** (i / 10 - 3) for i in range(20)]
    curve = [2.0] * 10 + [1.9, 1.7, 1.2, 1.0, 0.9, 0.85, 0.8] + [0.9, 1.5, 3.0]
    assert steepest(lrs, curve) == lrs[11]  # the fall 1.7 -> 1.2 starts there
    # valley: the longest decreasing run is steps 9..16 (8 points); fastai's start is one before
    # it (16 - 8 = 8), plus 1/3 and 1/6 of its span (8 / 3 -> 2 and 1)
    assert valley(lrs, curve) == lrs[8 + 2 + 1]


@pytest.mark.slow  # 100 steps of batch 256: 5.7 s on 2 cores at load 1.3, 27-60 s at load 3-9
def test_lr_finder_on_mnist_suggests_near_the_recipe_and_leaves_nothing(real_data) -> None:
    cfg = default_run_config("mnist", limit=3000)
    dataset = load_dataset(cfg.data)
    rng = torch.get_rng_state()
    finding = lr_find(cfg, dataset, threads=2)
    assert torch.equal(torch.get_rng_state(), rng)  # the global generator is as it was
    peak = cfg.train.lr  # the recipe's onecycle peak: 0.2 (SGD, batch 256)
    assert finding.suggestion is not None
    assert peak / 3 <= finding.suggestion <= peak * 3, finding.suggestion
    assert len(finding.lrs) == len(finding.losses) == len(finding.smoothed) <= 100
    assert not default_runs_dir().exists() or not any(default_runs_dir().iterdir())


def test_cli_lr_find_json_creates_no_run(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lr-find", "--dataset", "digits", "--limit", "300", "--steps", "30", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["suggestion"] > 0 and doc["method"] == "steepest"
    assert len(doc["lrs"]) <= 30 and doc["dataset"] == "digits"
    assert not default_runs_dir().exists() or not any(default_runs_dir().iterdir())
    assert main(["lr-find", "--dataset", "digits", "--steps", "1"]) == 2  # a usage error
