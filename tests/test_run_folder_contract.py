"""The run folder's contract: only cnnlab/runs/ knows its file names, and a resumed run's history
(latest pass) is the same everywhere it is shown."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cnnlab import plots
from cnnlab.config import RunConfig
from cnnlab.events import EndEvent, EpochEvent, StartEvent
from cnnlab.runs import Status, compare_runs, create_run, list_runs, read_live, run_history

REPO = Path(__file__).resolve().parent.parent
FILE_NAMES = (
    "weights.safetensors",
    "status.json",
    "events.jsonl",
    "STOP",
    "log.txt",
    "error.log",
    "checkpoint.pt",
)
NOT_YET_MOVED: set[str] = set()  # every page uses the Run / LiveView API


def _literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant in code (docstrings are prose and left out)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_module_outside_the_runs_package_spells_a_run_file_name() -> None:
    offenders = []
    for path in [*REPO.joinpath("cnnlab").rglob("*.py"), *REPO.joinpath("pages").rglob("*.py")]:
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("cnnlab/runs/") or rel in NOT_YET_MOVED:
            continue
        for line, text in _literals(path):
            if any(name in text for name in FILE_NAMES):
                offenders.append(f"{rel}:{line}: {text!r}")
    assert not offenders, "\n".join(offenders)


def test_the_check_finds_a_file_name(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text('"""Mentions status.json in prose."""\nPATH = "weights.safetensors"\n')
    assert [text for _, text in _literals(sample)] == ["weights.safetensors"]


@pytest.fixture
def resumed_run() -> str:
    """Issue 20 item 4: start, epochs 1-4, (killed), start(resumed_epoch=2), epochs 3-5, end."""
    run = create_run(RunConfig())
    run.append_events(
        [StartEvent(epochs=5), *(EpochEvent(epoch=e, val_acc=0.1 * e) for e in range(1, 5))]
    )
    run.append_events(
        [
            StartEvent(epochs=5, resumed_epoch=2),
            *(EpochEvent(epoch=e, val_acc=0.15 * e, best=True) for e in range(3, 6)),
            EndEvent(status="finished", best_epoch=5, best_val_acc=0.75),
        ]
    )
    run.write_metrics({"epochs_done": 3, "test_acc": 0.7})  # a pass-local count: not used
    run.update_status(Status.FINISHED, best_val_acc=0.75)
    return run.run_id


def test_a_resumed_run_has_five_epochs_everywhere(resumed_run: str) -> None:
    history = run_history(resumed_run)
    assert history.epochs_done == 5 and [e.epoch for e in history.epochs] == [1, 2, 3, 4, 5]
    assert [e.val_acc for e in history.epochs] == pytest.approx([0.1, 0.2, 0.45, 0.6, 0.75])
    view = read_live(resumed_run)  # the Train page's live view
    assert [e.epoch for e in view.epochs] == [1, 2, 3, 4, 5] and len(view.epoch_frame()) == 5
    comparison = compare_runs(list_runs())  # the Runs page's compare chart and table
    assert comparison.table["epochs done"].tolist() == [5]
    [curve] = comparison.curves.values()
    compare = plots.compare_curves(comparison.curves, "val_acc")
    assert len(curve) == 5 and list(compare.data[0].x) == [1, 2, 3, 4, 5]
    evaluate = plots.training_curves(history.epochs)  # the Evaluate page's curves
    assert all(len(trace.x) == 5 for trace in evaluate.data)


def test_a_new_run_never_shows_without_its_status(tmp_path, monkeypatch) -> None:
    """A folder counts as a run once it has a config; readers listing the runs folder while
    `create_run` writes (another session pressing Train) must never see it as failed."""
    from cnnlab.runs import store

    seen: list[Status] = []
    real_write = store.atomic_write_json

    def write_and_look(path, data) -> None:  # noqa: ANN001
        real_write(path, data)
        seen.extend(info.status for info in list_runs(tmp_path))

    monkeypatch.setattr(store, "atomic_write_json", write_and_look)
    create_run(RunConfig(), tmp_path)
    assert seen and set(seen) == {Status.QUEUED}
