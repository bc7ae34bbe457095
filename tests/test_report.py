"""The results report (cnnlab.report): generated for a finished, a stopped and a diverged digits
run; every number in it equals the Evaluate backend's; the diagnosis rules fire on constructed
curves; the ECE equals a direct numpy computation; the CLI writes both files."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest

from cnnlab.cli import main
from cnnlab.config import DataConfig, RunConfig, TrainConfig, WatchConfig
from cnnlab.data import load_dataset
from cnnlab.evaluate import evaluate, most_confused
from cnnlab.report import Curves, build_report, report_for_run
from cnnlab.report import diagnosis as rules
from cnnlab.report.calibration import reliability
from cnnlab.report.to_html import to_html
from cnnlab.report.to_markdown import to_markdown
from cnnlab.runs import create_run, get_run, load_model
from cnnlab.runs.runner import execute_run
from cnnlab.runs.store import Run

NO_WATCH = WatchConfig(snapshots=False, embedding_points=0, norms_every=0)  # faster runs
DIGITS = DataConfig(name="digits")


def _train(runs_dir: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> str:
    train = {
        "finished": TrainConfig(epochs=2),
        "stopped": TrainConfig(epochs=3),
        "diverged": TrainConfig(epochs=2, lr=1e4, optimizer="sgd", schedule="constant"),
    }[kind]
    run = create_run(RunConfig(data=DIGITS, train=train, watch=NO_WATCH), runs_dir)
    if kind == "stopped":  # a Stop press in epoch 2 (12 steps per epoch on digits)
        polls = iter(range(10**6))
        monkeypatch.setattr(Run, "stop_requested", lambda self: next(polls) > 15)
    assert execute_run(run) == kind
    monkeypatch.undo()
    return run.run_id


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    runs_dir = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        ids = {kind: _train(runs_dir, patch, kind) for kind in ("finished", "stopped", "diverged")}
    return runs_dir, ids


def _page_report(run_id: str, runs_dir: Path):
    """What the Evaluate page computes (pages/evaluate.py `test_report`)."""
    loaded = load_model(run_id, runs_dir)
    dataset = load_dataset(loaded.config.data)
    return evaluate(
        loaded.model,
        dataset.test,
        loaded.class_names,
        batch_size=loaded.config.train.eval_batch_size,
    )


def _md_table(md: str, first_header: str) -> list[list[str]]:
    """The rows of the Markdown table whose first header cell is `first_header`."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().replace("\\", "") for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.parametrize("kind", ["finished", "stopped", "diverged"])
def test_every_number_equals_the_evaluate_backend(runs, kind: str) -> None:
    runs_dir, ids = runs
    report = report_for_run(ids[kind], runs_dir)
    page = _page_report(ids[kind], runs_dir)
    md, page_html = to_markdown(report), to_html(report)
    assert report.status == kind

    header = next(line for line in md.splitlines() if line.startswith("| Test accuracy |"))
    labels = [cell.strip() for cell in header.strip("|").split("|")]
    summary = dict(zip(labels, _md_table(md, "Test accuracy")[0], strict=True))
    assert summary["Test accuracy"] == f"{page.accuracy:.2%}"  # the page's st.metric format
    assert float(summary["Test loss"]) == pytest.approx(page.loss, abs=5e-5)
    macro = page.per_class.set_index("class").loc["macro avg", "f1"]
    assert float(summary["Macro F1"]) == pytest.approx(macro, abs=5e-4)

    scores = {row[0]: row for row in _md_table(md, "class")}
    for row in page.per_class.itertuples(index=False):
        ours = scores[str(row[0])]
        for got, want in zip(ours[1:4], (row.precision, row.recall, row.f1), strict=True):
            assert float(got) == pytest.approx(want, abs=5e-4)
        assert int(ours[4]) == row.support

    # the confusion matrix's cells (SVG titles) are the page's counts
    cells = re.findall(r"<title>true (.*?), predicted (.*?): (\d+)</title>", page_html)
    index = {name: i for i, name in enumerate(page.class_names)}
    got = np.zeros_like(page.confusion)
    for true, pred, count in cells:
        got[index[html.unescape(true)], index[html.unescape(pred)]] = int(count)
    np.testing.assert_array_equal(got, page.confusion)

    pairs = _md_table(md, "true") if report.pairs else []
    want = most_confused(page, len(pairs))
    for row, expected in zip(pairs, want.itertuples(index=False), strict=True):
        assert (row[0], row[1], int(row[2])) == (expected.true, expected.predicted, expected.count)
        assert row[3] == f"{expected.share_of_true:.2%}"
        assert row[4].count("data:image/png;base64,") == min(expected.count, 6)

    rel = reliability(page.probs, page.labels)
    assert f"Expected calibration error (10 equal-width bins): **{rel.ece:.3f}**" in md
    assert "http://" not in page_html.replace("http://www.w3.org/2000/svg", "")


def test_stopped_and_diverged_reports_say_what_is_missing(runs) -> None:
    runs_dir, ids = runs
    stopped = report_for_run(ids["stopped"], runs_dir)
    assert any("stopped after 2 of 3 epochs" in note for note in stopped.missing), stopped.missing
    diverged = report_for_run(ids["diverged"], runs_dir)
    rules_fired = {f.rule for f in diverged.findings}
    assert {"divergence", "chance_level"} <= rules_fired
    assert any("diverged" in note for note in diverged.missing)
    assert "lr 10000 → 1000" in to_markdown(diverged)
    finished = report_for_run(ids["finished"], runs_dir)
    assert not finished.missing and finished.best_epoch == 2


def test_ece_equals_a_direct_numpy_computation() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 4)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 4, size=500)
    conf, pred = probs.max(1), probs.argmax(1)
    ece = 0.0
    for lo in np.arange(10) / 10:  # bins (lo, lo + 0.1]
        inside = (conf > lo) & (conf <= lo + 0.1)
        if inside.any():
            ece += inside.mean() * abs(
                (pred[inside] == labels[inside]).mean() - conf[inside].mean()
            )
    rel = reliability(probs, labels)
    assert rel.ece == pytest.approx(ece, abs=1e-12)
    assert rel.counts.sum() == 500
    perfect = reliability(np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 2, 0]))
    assert perfect.ece == 0.0


def _curves(train_loss, val_loss, train_acc=None, val_acc=None, batches=()) -> Curves:
    n = len(train_loss)
    return Curves(
        epochs=list(range(1, n + 1)),
        train_loss=list(train_loss),
        val_loss=list(val_loss),
        train_acc=list(train_acc or [0.95] * n),
        val_acc=list(val_acc or [0.93] * n),
        batch_loss=list(batches),
        batch_epoch=[1 + i * n // max(len(batches), 1) for i in range(len(batches))],
    )


def test_overfitting_rules_fire_on_constructed_curves() -> None:
    falling = [1.0, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05]
    turning = [1.0, 0.8, 0.6, 0.5, 0.45, 0.40, 0.44, 0.5, 0.55, 0.6]  # minimum at epoch 6
    turn = rules.val_loss_turn(_curves(falling, turning))
    assert turn is not None and turn.epoch == 6
    assert "rose after epoch 6" in turn.text and "early stopping at epoch 6" in turn.step
    assert rules.val_loss_turn(_curves(falling, falling)) is None
    gap = rules.accuracy_gap(_curves(falling, turning, [0.99] * 10, [0.80] * 10))
    assert gap is not None and "19.0 points" in gap.text
    assert rules.accuracy_gap(_curves(falling, falling, [0.95] * 10, [0.9] * 10)) is None
    memorising = rules.loss_gap(_curves([0.5, 0.1], [0.6, 0.5]))
    assert memorising is not None and "5.0x the training loss" in memorising.text
    assert rules.loss_gap(_curves([0.5, 0.3], [0.6, 0.4])) is None


def test_underfitting_and_still_learning_fire_on_constructed_curves() -> None:
    slow = [2.0, 1.8, 1.6]
    under = rules.underfitting(_curves(slow, slow, [0.3, 0.4, 0.5], [0.32, 0.41, 0.5]))
    assert under is not None and under.epoch == 3
    assert rules.underfitting(_curves(slow, slow, [0.97] * 3, [0.96] * 3)) is None
    still = rules.still_improving(_curves(slow, slow), planned_epochs=3)
    assert still is not None and "6 instead of 3" in still.step
    assert rules.still_improving(_curves(slow, [2.0, 1.8, 1.79]), planned_epochs=3) is None
    plateau = [2.0, 0.50, 0.55, 0.52, 0.49]  # one dip after a plateau is not still learning
    assert rules.still_improving(_curves(slow + slow[:2], plateau), planned_epochs=5) is None


def test_too_high_learning_rate_rules_fire_on_constructed_curves() -> None:
    calm = [2.3 - 0.01 * i for i in range(60)]
    spiky = list(calm)
    spiky[30], spiky[45] = 9.0, 8.0  # two jumps above 2x the recent median
    curves = _curves([2.0, 1.5], [2.0, 1.6], batches=spiky)
    spikes = rules.loss_spikes(curves, lr=0.5)
    assert spikes is not None and spikes.text.startswith("2 batch losses")
    assert rules.loss_spikes(_curves([2.0, 1.5], [2.0, 1.6], batches=calm), lr=0.5) is None
    rises = rules.train_loss_rises(_curves([1.0, 0.8, 1.2], [1.0, 0.9, 1.3]), lr=0.5)
    assert rises is not None and rises.epoch == 3
    nan = rules.divergence("finished", _curves([1.0], [1.0], batches=[2.3, None]), lr=3.0)
    assert nan is not None and nan.severity == "bad" and "lr 3 → 0.3" in nan.step
    assert rules.divergence("finished", _curves([1.0], [1.0], batches=calm), lr=3.0) is None


def test_cli_writes_html_and_markdown(runs, tmp_path: Path, capsys) -> None:
    runs_dir, ids = runs
    out_html, out_md = tmp_path / "r.html", tmp_path / "r.md"
    code = main(["--runs-dir", str(runs_dir), "report", ids["finished"], "--html",
                 str(out_html), "--md", str(out_md)])  # fmt: skip
    assert code == 0
    text = out_html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in text
    assert out_md.read_text().startswith("# Results report: ")
    assert f"wrote {out_html}" in capsys.readouterr().out
    assert main(["--runs-dir", str(runs_dir), "report", "no-such-run"]) == 4


def test_class_names_from_users_stay_text_in_both_files(runs) -> None:
    runs_dir, ids = runs
    page = _page_report(ids["finished"], runs_dir)
    hostile = [f"<img src=x onerror=alert({i})>![a](https://evil.example/{i})|" for i in range(10)]
    evaluation = evaluate_with_names(page, hostile)
    report = build_report(get_run(ids["finished"], runs_dir), evaluation, None)
    page_html, md = to_html(report), to_markdown(report)
    assert "<img src=x" not in page_html and "&lt;img src=x onerror=alert(0)&gt;" in page_html
    assert "https://evil" not in page_html.replace("https:", "")  # only escaped text remains
    assert not re.search(r"(?<!\\)<img|(?<!\\)\]\(https?://", md)  # no unescaped markup
    assert "\\<img src=x" in md and "https://evil" not in md  # the link's scheme is broken
    assert "\\|" in md  # a name's pipe cannot split a table cell


def evaluate_with_names(report, names):
    """The same evaluation with other class names (per-class table renamed accordingly)."""
    import dataclasses

    table = report.per_class.copy()
    table.loc[: len(names) - 1, "class"] = names
    return dataclasses.replace(report, class_names=names, per_class=table)
