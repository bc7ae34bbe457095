"""The CLI's options (issue 13): flags derived from the configs, usage errors before anything is
written, `--config` / `--print-config`, `--json` documents, progress without a terminal,
skipped files on screen, and a help that lists no hidden command."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from cnnlab.cli import EXIT_NO_RUN, EXIT_OK, EXIT_USAGE, main
from cnnlab.cli.parser import build_parser
from cnnlab.config import RunConfig, to_dict
from cnnlab.runs import get_run, list_runs

REPO = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "digits", "--epochs", "1", "--threads", "1", "--limit", "400"]


def cli(*args: str, runs: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m cnnlab` as a script would run it: stdout and stderr are pipes, not terminals."""
    env = {**os.environ, "CNNLAB_RUNS": str(runs)}
    return subprocess.run(
        [sys.executable, "-m", "cnnlab", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def leaves(data: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of the non-dict values of a nested dict."""
    found = set()
    for key, value in data.items():
        if isinstance(value, dict):
            found |= leaves(value, f"{prefix}{key}.")
        else:
            found.add(prefix + key)
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(runs folder, run id) of one tiny finished digits run."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["--runs-dir", str(runs), "train", *TINY, "--quiet"]) == EXIT_OK
    return runs, list_runs(runs)[0].run_id


def test_help_lists_the_public_commands_only(tmp_path: Path) -> None:
    out = cli("--help", runs=tmp_path)
    assert out.returncode == 0
    assert "worker" not in out.stdout and "SUPPRESS" not in out.stdout
    for command in ("datasets", "models", "train", "evaluate", "predict", "runs", "import-run"):
        assert f"\n    {command} " in out.stdout
    assert cli("worker", runs=tmp_path).returncode == 2  # the warm job is cnnlab.runs.worker


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import cnnlab

    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"cnnlab {cnnlab.__version__}"


def test_every_setting_has_a_flag() -> None:
    """Each leaf of RunConfig (but the custom network and the label patch) has its flag."""
    skip = ("model.spec", "data.patch")  # --config only (data.patch also --patch FILE)
    expected = {p for p in leaves(to_dict(RunConfig())) if not p.startswith(skip)}
    train = build_parser(registries=False)._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    dests = {a.dest[len("set:") :] for a in train._actions if a.dest.startswith("set:")}
    assert dests == expected
    flags = {s for a in train._actions for s in a.option_strings}
    assert {"--train.batch-size", "--augment.hflip", "--no-augment.hflip", "--note"} <= flags


@dataclasses.dataclass(frozen=True)
class Knobs:  # stands in for a dataclass a helper nests later (e.g. DataConfig.shapes)
    count: int = 4
    on: bool = False
    sizes: tuple[int, ...] = (1, 2)


@dataclasses.dataclass(frozen=True)
class Section:
    knobs: Knobs = dataclasses.field(default_factory=Knobs)
    name: str = "x"


def test_flags_follow_nested_dataclasses() -> None:
    import argparse

    from cnnlab.cli import flags

    paths = [s.path for s in flags.settings(Section)]
    assert paths == ["knobs.count", "knobs.on", "knobs.sizes", "name"]
    parser = argparse.ArgumentParser()
    for s in flags.settings(Section):
        parser.add_argument(s.flag, **flags._kwargs(s, registries=False))
    args = parser.parse_args(["--knobs.count", "7", "--knobs.on", "--knobs.sizes", "3", "4"])
    values = flags.overrides(args)
    assert values == {"knobs.count": 7, "knobs.on": True, "knobs.sizes": [3, 4]}
    data = flags.apply(dataclasses.asdict(Section()), values)
    assert data == {"knobs": {"count": 7, "on": True, "sizes": [3, 4]}, "name": "x"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "no-such-set"], "invalid choice: 'no-such-set'"),
        (["--model", "nonet"], "invalid choice: 'nonet'"),
        (["--optimizer", "lion"], "invalid choice: 'lion'"),
        (["--epochs", "three"], "invalid int value: 'three'"),
        (["--lr", "-1"], "train.lr: must be > 0, got -1"),
        (["--train.label-smoothing", "1"], "train.label_smoothing: must be in [0, 1), got 1"),
        (["--data.val-fraction", "0"], "data.val_fraction: must be in (0, 1), got 0"),
        (["--config", "no-such-run"], "--config no-such-run: no such file, run folder or run id"),
        (["--dataset", "mnist", "--recipe", "long"], "--recipe: mnist has no 'long' recipe"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "fresh-runs"
    assert main(["--runs-dir", str(runs), "train", *args]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not runs.exists() or not any(runs.iterdir())


def test_a_bad_config_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = to_dict(RunConfig())
    data["train"]["epochs"] = "3"
    data["model"]["name"] = "nonet"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    runs = tmp_path / "fresh-runs"
    assert main(["--runs-dir", str(runs), "train", "--config", str(path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert 'train.epochs: expected an integer, got "3"' in err
    assert not runs.exists()
    data["train"]["epochs"] = 3  # types fine now: the unknown model is named next
    path.write_text(json.dumps(data))
    assert main(["--runs-dir", str(runs), "train", "--config", str(path)]) == EXIT_USAGE
    assert 'model.name: unknown model "nonet"' in capsys.readouterr().err


def test_aliases_and_print_config_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*TINY, "--lr", "0.01", "--batch-size", "32", "--optimizer", "sgd", "--no-augment"]
    args += ["--train.nesterov", "--no-train.channels-last", "--note", "hello"]
    assert main(["train", *args, "--print-config"]) == EXIT_OK
    printed = capsys.readouterr().out
    cfg = json.loads(printed)
    assert cfg["data"] == {**cfg["data"], "name": "digits", "limit": 400}
    assert cfg["train"] == {
        **cfg["train"],
        **{"epochs": 1, "lr": 0.01, "batch_size": 32, "optimizer": "sgd", "threads": 1},
        **{"nesterov": True, "channels_last": False},
    }
    assert cfg["augment"] == to_dict(RunConfig().augment) and cfg["note"] == "hello"
    path = tmp_path / "saved.json"
    path.write_text(printed)
    assert main(["train", "--config", str(path), "--print-config"]) == EXIT_OK
    assert capsys.readouterr().out == printed  # the same config, byte for byte
    assert main(["train", "--config", str(path), "--epochs", "5", "--print-config"]) == EXIT_OK
    again = json.loads(capsys.readouterr().out)
    assert again["train"]["epochs"] == 5 and again["train"]["lr"] == 0.01
    assert not list_runs()  # --print-config writes nothing


def test_the_long_recipe_is_cifar10s_longer_airnet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["train", "--dataset", "cifar10", "--print-config"]) == EXIT_OK
    fast = json.loads(capsys.readouterr().out)
    assert main(["train", "--dataset", "cifar10", "--recipe", "long", "--print-config"]) == EXIT_OK
    long = json.loads(capsys.readouterr().out)
    assert (fast["model"]["name"], long["model"]["name"]) == ("airnet", "airnet")
    assert long["model"]["width"] > fast["model"]["width"]
    assert long["model"]["flip_tta"] and fast["model"]["flip_tta"]
    assert long["train"]["epochs"] > fast["train"]["epochs"] and long["train"]["lookahead"]
    assert main(["train", "--dataset", "cifar10", "--recipe", "long", "--epochs", "3",
                 "--print-config"]) == EXIT_OK  # fmt: skip
    assert json.loads(capsys.readouterr().out)["train"]["epochs"] == 3  # flags still override


def test_config_reruns_a_saved_run_to_the_same_result(
    trained: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    runs, first = trained
    base = ["--runs-dir", str(runs), "train", "--quiet"]
    assert main([*base, "--config", first]) == EXIT_OK  # by run id
    assert main([*base, "--config", str(get_run(first, runs).path)]) == EXIT_OK  # by folder
    ids = [r.run_id for r in list_runs(runs)]
    again = [r for r in ids if r != first]
    assert len(again) == 2
    want = get_run(first, runs)
    for run_id in again:
        run = get_run(run_id, runs)
        assert run.config() == want.config()
        assert run.metrics()["test_acc"] == want.metrics()["test_acc"]


def test_json_documents_parse(trained: tuple[Path, str], tmp_path: Path) -> None:
    runs, run_id = trained
    image = tmp_path / "digit.png"
    page = Image.new("L", (40, 40), 255)  # a dark stroke on white paper (a blank page is refused)
    ImageDraw.Draw(page).line([(20, 6), (20, 34)], fill=0, width=4)
    page.save(image)
    datasets = json.loads(cli("datasets", "--json", runs=runs).stdout)
    assert {"name": "digits", "available": True}.items() <= next(
        d for d in datasets if d["name"] == "digits"
    ).items()
    models = json.loads(cli("models", "--json", runs=runs).stdout)
    assert "classic" in [m["name"] for m in models]
    listed = json.loads(cli("runs", "--json", runs=runs).stdout)
    assert run_id in [r["run"] for r in listed] and "test_acc" in listed[0]
    report = json.loads(cli("evaluate", run_id, "--json", runs=runs).stdout)
    assert report["run"] == run_id and 0 <= report["accuracy"] <= 1
    assert len(report["confusion"]) == len(report["class_names"]) == 10
    out = cli("predict", str(image), str(tmp_path / "missing.png"), "--json", runs=runs)
    doc = json.loads(out.stdout)
    assert out.returncode == 1  # one image was missing: the other is still classified
    assert [p["image"] for p in doc["predictions"]] == [str(image)]
    probs = [t["probability"] for t in doc["predictions"][0]["top"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert doc["predictions"][0]["class"] == doc["predictions"][0]["top"][0]["class"]
    assert doc["errors"][0]["image"].endswith("missing.png")


def test_train_json_streams_events(tmp_path: Path) -> None:
    out = cli("train", *TINY, "--json", runs=tmp_path / "runs")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [line["type"] for line in lines]
    assert kinds[:3] == ["run", "dataset", "start"] and kinds[-2:] == ["end", "result"]
    assert "batch" in kinds and "epoch" in kinds
    assert lines[-1]["status"] == "finished" and 0 < lines[-1]["test_acc"] <= 1


def test_progress_lines_without_a_terminal(tmp_path: Path) -> None:
    out = cli("train", *TINY[:-2], "--epochs", "2", runs=tmp_path / "runs")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "loading the digits dataset..." in lines
    progress = [line for line in lines if line.startswith("training: ")]
    assert progress and progress[-1].startswith("training: 42/42 steps (100%)")
    assert any(line.startswith("testing ") for line in lines)
    assert "\r" not in out.stdout and "\r" not in out.stderr  # no bar redraws in a log
    evaluate = cli("evaluate", runs=tmp_path / "runs")
    assert "testing: 359/359 images (100%)" in evaluate.stdout


def test_skipped_files_are_reported_on_screen(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    for cls, shade in (("dark", 20), ("light", 230)):
        (folder / cls).mkdir(parents=True)
        for i in range(12):
            Image.new("L", (16, 16), shade + i).save(folder / cls / f"{i}.png")
    (folder / "dark" / "broken.png").write_bytes(b"<html>not an image</html>")
    args = ["--dataset", "folder", "--path", str(folder), "--image-size", "16", "--epochs", "1"]
    out = cli("train", *args, "--threads", "1", "--batch-size", "8", runs=tmp_path / "runs")
    assert out.returncode == 0, out.stderr
    assert "skipped 1 file(s):" in out.stdout
    assert "broken.png" in out.stdout


def test_no_run_exit_codes(tmp_path: Path) -> None:
    runs = str(tmp_path / "none")
    assert main(["--runs-dir", runs, "evaluate"]) == EXIT_NO_RUN
    assert main(["--runs-dir", runs, "predict", "x.png"]) == EXIT_NO_RUN
    assert main(["--runs-dir", runs, "runs", "--status", "sleeping"]) == EXIT_USAGE
    assert main(["datasets", "--download", "no-such-set"]) == EXIT_USAGE
    assert main(["--runs-dir", runs, "predict", "x.png", "--top", "0"]) == EXIT_USAGE
    assert not list_runs(runs)  # looking for runs made none


def test_run_dir_job_mode_still_trains(tmp_path: Path) -> None:
    """What the app's job manager runs: `train --run-dir RUN` on a folder it created."""
    from cnnlab.recipes import default_run_config
    from cnnlab.runs import create_run

    cfg = default_run_config("digits", limit=300)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=1, threads=1))
    run = create_run(cfg, tmp_path / "runs")
    assert main(["train", "--run-dir", str(run.path), "--quiet"]) == EXIT_OK
    assert run.status().status == "finished"


def test_predict_fit_and_invert_reach_the_preprocessing(tmp_path: Path) -> None:
    """A landscape photo with its only shape at the far left: the default centre crop sees a
    uniform middle ("nothing to read here", exit 1); `--fit pad` keeps the edges and classifies
    it. `--invert` takes auto|yes|no only."""
    runs = tmp_path / "runs"
    args = ["--dataset", "shapes", "--epochs", "1", "--limit", "600", "--threads", "1", "--quiet"]
    assert main(["--runs-dir", str(runs), "train", *args]) == EXIT_OK
    wide = tmp_path / "wide.png"
    photo = Image.new("RGB", (300, 100), (40, 40, 40))
    ImageDraw.Draw(photo).ellipse([5, 10, 85, 90], fill=(250, 200, 30))  # only in the left third
    photo.save(wide)

    for flags in ((), ("--fit", "crop")):
        out = cli("predict", str(wide), *flags, runs=runs)
        assert out.returncode == 1 and "nothing to read here" in out.stderr
    out = cli("predict", str(wide), "--fit", "pad", "--json", runs=runs)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["predictions"][0]["class"]
    assert cli("predict", str(wide), "--invert", "maybe", runs=runs).returncode == 2
