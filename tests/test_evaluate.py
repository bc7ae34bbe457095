"""evaluate.py against scikit-learn's metrics on the same predictions."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn import metrics
from torch import nn

from cnnlab.evaluate import (
    EvalReport,
    cell_indices,
    evaluate,
    highest_loss,
    misclassified,
    most_confused,
    predict_probs,
)

CLASSES = ["cat", "dog", "bird", "never"]  # class 3 is never predicted (large negative bias)


def small_net(bias3: float = -8.0, channels: int = 3, num_classes: int = 4) -> nn.Module:
    # (B, C, 8, 8) -> conv -> (B, 6, 8, 8) -> pool -> (B, 6, 4, 4) -> (B, 96) -> (B, K)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, num_classes),
    )
    with torch.no_grad():
        net[4].weight.mul_(10)  # spread the logits so predictions vary across classes
        net[4].bias[3] = bias3
    return net


@pytest.fixture
def split() -> SimpleNamespace:
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (300, 3, 8, 8), dtype=torch.uint8, generator=gen)  # (N, C, H, W)
    y = torch.randint(0, 4, (300,), generator=gen)  # (N,) int64, includes class 3
    return SimpleNamespace(x=x, y=y)


@pytest.fixture
def report(split: SimpleNamespace) -> EvalReport:
    return evaluate(small_net(), split, CLASSES, batch_size=64)


def test_predict_probs_matches_softmax_of_forward_and_restores_mode(split):
    model = small_net().train()
    probs = predict_probs(model, split.x, batch_size=70)  # 5 batches, the last one short
    assert model.training
    assert probs.dtype == np.float32 and probs.shape == (300, 4)
    with torch.no_grad():
        expected = torch.softmax(model.eval()(split.x.float() / 255), dim=1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_predict_probs_empty_input_keeps_class_axis():
    probs = predict_probs(small_net(), torch.zeros((0, 3, 8, 8), dtype=torch.uint8))
    assert probs.shape == (0, 4)


def test_metrics_match_sklearn(report, split):
    y = split.y.numpy()
    assert 3 in y and 3 not in report.preds and len(set(report.preds.tolist())) == 3
    np.testing.assert_array_equal(report.labels, y)
    np.testing.assert_array_equal(report.preds, report.probs.argmax(axis=1))

    assert report.accuracy == pytest.approx(metrics.accuracy_score(y, report.preds))
    expected_cm = metrics.confusion_matrix(y, report.preds, labels=range(4))
    np.testing.assert_array_equal(report.confusion, expected_cm)
    assert report.confusion.dtype == np.int64

    p, r, f, s = metrics.precision_recall_fscore_support(
        y, report.preds, labels=range(4), zero_division=0
    )
    table = report.per_class.set_index("class")
    assert list(report.per_class.columns) == ["class", "precision", "recall", "f1", "support"]
    np.testing.assert_allclose(table.loc[CLASSES, "precision"], p)
    np.testing.assert_allclose(table.loc[CLASSES, "recall"], r)
    np.testing.assert_allclose(table.loc[CLASSES, "f1"], f)
    np.testing.assert_array_equal(table.loc[CLASSES, "support"], s)

    ref = metrics.classification_report(
        y, report.preds, labels=range(4), target_names=CLASSES, output_dict=True, zero_division=0
    )
    for row in ["macro avg", "weighted avg", *CLASSES]:
        assert table.loc[row, "precision"] == pytest.approx(ref[row]["precision"])
        assert table.loc[row, "recall"] == pytest.approx(ref[row]["recall"])
        assert table.loc[row, "f1"] == pytest.approx(ref[row]["f1-score"])
        assert table.loc[row, "support"] == ref[row]["support"]


def test_loss_matches_sklearn_log_loss_and_torch_cross_entropy(report, split):
    probs64 = report.probs.astype(np.float64)
    ref = metrics.log_loss(
        split.y.numpy(), probs64 / probs64.sum(1, keepdims=True), labels=range(4)
    )
    assert report.loss == pytest.approx(ref, rel=1e-5)
    model = small_net().eval()
    with torch.no_grad():
        ce = nn.functional.cross_entropy(model(split.x.float() / 255), split.y).item()
    assert report.loss == pytest.approx(ce, rel=1e-5)


def test_confusion_normalized_rows_sum_to_one_or_zero():
    cm = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 2]], dtype=np.int64)
    rep = EvalReport(0.0, 0.0, None, cm, None, None, None, ["a", "b", "c"])
    norm = rep.confusion_normalized()
    np.testing.assert_allclose(norm, [[0.75, 0.25, 0], [0, 0, 0], [0.5, 0, 0.5]])
    assert not np.isnan(norm).any()


def test_most_confused_lists_off_diagonal_cells_by_count(report):
    table = most_confused(report, k=100)
    assert list(table.columns) == ["true", "predicted", "count", "share_of_true"]
    cm = report.confusion
    off = cm - np.diag(np.diag(cm))
    assert len(table) == np.count_nonzero(off)
    assert table["count"].is_monotonic_decreasing
    for row in table.itertuples():
        t, p = CLASSES.index(row.true), CLASSES.index(row.predicted)
        assert t != p and row.count == cm[t, p]
        assert row.share_of_true == pytest.approx(cm[t, p] / cm[t].sum())
    assert len(most_confused(report, k=2)) == 2


def test_highest_loss_sorted_and_consistent(report):
    table = highest_loss(report, k=16)
    assert list(table.columns) == ["index", "true", "predicted", "confidence", "loss"]
    assert len(table) == 16 and table["loss"].is_monotonic_decreasing
    losses = -np.log(report.probs[np.arange(300), report.labels].astype(np.float64))
    assert table["loss"].iloc[0] == pytest.approx(losses.max())
    for row in table.itertuples():
        i = row.index
        assert row.true == CLASSES[report.labels[i]]
        assert row.predicted == CLASSES[report.preds[i]]
        assert row.confidence == pytest.approx(report.probs[i].max())
        assert row.loss == pytest.approx(losses[i])


def test_highest_loss_exact_beyond_float32_probabilities(split):
    # Class 3 gets probabilities ~e^-100 (0 in float32); the losses must still be exact.
    model = small_net(bias3=-100.0)
    rep = evaluate(model, split, CLASSES)
    with torch.no_grad():
        ce = nn.functional.cross_entropy(model(split.x.float() / 255), split.y, reduction="none")
    table = highest_loss(rep, k=5)
    np.testing.assert_allclose(table["loss"], np.sort(ce.numpy())[::-1][:5], rtol=1e-5)
    assert table["loss"].iloc[0] > 90
    assert rep.loss == pytest.approx(ce.mean().item(), rel=1e-5)


def test_cell_indices_select_the_cell_by_confidence(report):
    t, p = np.unravel_index(
        np.argmax(report.confusion - np.diag(np.diag(report.confusion))), (4, 4)
    )
    idx = cell_indices(report, int(t), int(p))
    assert len(idx) == report.confusion[t, p]
    assert (report.labels[idx] == t).all() and (report.preds[idx] == p).all()
    assert (np.diff(report.probs[idx, p]) <= 0).all()
    assert len(cell_indices(report, 3, 3)) == 0  # never predicted


def _report_for(labels: list[int], preds: list[int], names: list[str]) -> EvalReport:
    """evaluate() on a model whose logits are one-hot predictions, so `preds` is what it says."""

    class Fixed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (
                nn.functional.one_hot(torch.tensor(preds, dtype=torch.long), len(names)).float()
                * 10
                + x.sum() * 0
            )

    x = torch.zeros((len(labels), 1, 2, 2), dtype=torch.uint8)
    return evaluate(
        Fixed(),
        SimpleNamespace(x=x, y=torch.tensor(labels, dtype=torch.long)),
        names,
        batch_size=1024,
    )


@pytest.mark.parametrize(
    ("labels", "preds", "names"),
    [
        ([0, 1, 2, 0, 1], [0, 0, 0, 0, 1], ["a", "b", "c"]),  # c present, never predicted
        ([0, 0, 1, 1], [0, 2, 1, 2], ["a", "b", "c"]),  # c predicted, never present
        ([0, 0, 0], [0, 0, 0], ["only"]),  # one class only
        ([1, 1, 1], [1, 1, 1], ["a", "b"]),  # one class present of two
    ],
)
def test_edge_cases_equal_sklearn_without_nan_or_warnings(labels, preds, names):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an undefined precision must not warn (zero_division=0)
        rep = _report_for(labels, preds, names)
    k = range(len(names))
    np.testing.assert_array_equal(rep.preds, preds)
    np.testing.assert_array_equal(rep.confusion, metrics.confusion_matrix(labels, preds, labels=k))
    ref = metrics.classification_report(
        labels, preds, labels=k, target_names=names, output_dict=True, zero_division=0
    )
    table = rep.per_class.set_index("class")
    assert not table.isna().any().any()
    for row in [*names, "macro avg", "weighted avg"]:
        got = table.loc[row, ["precision", "recall", "f1"]].to_numpy(dtype=float)
        expected = [ref[row]["precision"], ref[row]["recall"], ref[row]["f1-score"]]
        np.testing.assert_allclose(got, expected, atol=1e-12)
        assert table.loc[row, "support"] == ref[row]["support"]


def test_empty_split_gives_zero_counts_not_an_error():
    rep = _report_for([], [], ["a", "b"])
    assert rep.confusion.shape == (2, 2) and rep.confusion.sum() == 0
    assert (rep.per_class[["precision", "recall", "f1", "support"]].to_numpy() == 0).all()


def test_misclassified_lists_every_mistake_most_confident_first(report):
    idx = misclassified(report)
    wrong = np.flatnonzero(report.labels != report.preds)
    assert sorted(idx.tolist()) == wrong.tolist() and idx.dtype == np.int64
    confidence = report.probs[idx, report.preds[idx]]
    assert (np.diff(confidence) <= 0).all()
