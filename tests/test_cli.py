"""The command line: train, evaluate, predict, runs, with exit codes scripts rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cnnlab.cli import EXIT_NO_DATA, EXIT_NO_RUN, EXIT_OK, main
from cnnlab.runs import get_run, latest_run, list_runs

REPO = Path(__file__).resolve().parent.parent


def test_help_for_every_subcommand() -> None:
    for sub in ("datasets", "models", "train", "evaluate", "predict", "runs", "import-run"):
        out = subprocess.run(
            [sys.executable, "-m", "cnnlab", sub, "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and "usage" in out.stdout


def test_train_evaluate_predict_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--dataset", "digits", "--epochs", "2", "--threads", "1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "epoch 2:" in out and "test accuracy" in out
    run_id = latest_run("finished")
    assert run_id and get_run(run_id).metrics()["test_acc"] > 0.7

    assert main(["evaluate", run_id]) == EXIT_OK
    out = capsys.readouterr().out
    assert "accuracy" in out and "macro avg" in out

    good = tmp_path / "digit.png"
    digit = Image.new("L", (40, 40), 255)  # a dark stroke on white (a blank page is refused)
    digit.paste(0, (17, 6, 23, 34))
    digit.save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"<html>not an image</html>")
    code = main(["predict", str(good), str(bad), "--run", run_id])
    captured = capsys.readouterr()
    assert code == 1  # one file was bad: the others are still classified
    assert "digit.png" in captured.out and "bad.png" in captured.err

    assert main(["runs"]) == EXIT_OK
    assert run_id in capsys.readouterr().out
    assert main(["runs", "--status", "failed"]) == EXIT_OK
    assert run_id not in capsys.readouterr().out  # filtered out: it finished


def test_exit_codes_for_missing_things(tmp_path: Path) -> None:
    assert main(["evaluate", "no-such-run"]) == EXIT_NO_RUN
    code = main(["train", "--dataset", "mnist", "--root", str(tmp_path / "empty"), "--epochs", "1"])
    assert code == EXIT_NO_DATA
    assert list_runs()[0].status == "failed"


@pytest.mark.slow
def test_mnist_default_recipe_reaches_98_5(
    real_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--dataset", "mnist"]) == EXIT_OK
    run_id = latest_run("finished")
    assert get_run(run_id).metrics()["test_acc"] >= 0.985
