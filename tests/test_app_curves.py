"""The curves views in the app (AppTest): Train's LR finder, Evaluate's curves section (where the
Learn link lands), the Runs comparison's config diff and per-class table, the filmstrip's Play
button and an Embedding point opened in Inspect."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab import cli
from cnnlab.config import DataConfig
from cnnlab.recipes import default_run_config
from cnnlab.runs import list_runs
from pages.ui.inspect_link import REQUEST, InspectRequest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TINY = ["--dataset", "digits", "--limit", "400", "--epochs", "3", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished digits runs that differ in their learning rate."""
    runs = tmp_path_factory.mktemp("curves-runs")
    for lr in ("0.003", "0.01"):
        assert cli.main(["--runs-dir", str(runs), "train", *TINY, "--lr", lr]) == cli.EXIT_OK
    return runs


def _page(page: str, monkeypatch: pytest.MonkeyPatch, runs: Path, **params: str) -> AppTest:
    monkeypatch.setenv("CNNLAB_RUNS", str(runs))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_evaluate_curves_section_lands_from_the_learn_link(runs_dir, monkeypatch) -> None:
    at = _page("pages/evaluate.py", monkeypatch, runs_dir, show="class_curves")
    assert any(h.value == "Curves that explain this run" for h in at.subheader)
    assert "show" not in at.query_params  # consumed: a rerun does not scroll again
    assert [t.label for t in at.tabs][-4:] == [
        "Per-class accuracy",
        "Overfitting",
        "Learning rate",
        "Weight & gradient norms",
    ]
    assert any("Overfitting starts at the epoch" in c.value for c in at.caption)
    at.segmented_control(key="curves_norm").set_value("gradients").run()
    assert not at.exception


def test_runs_compare_shows_the_config_diff_and_per_class_accuracy(runs_dir, monkeypatch) -> None:
    at = _page("pages/runs.py", monkeypatch, runs_dir)
    at.multiselect(key="runs_compare").set_value([r.run_id for r in list_runs()]).run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [d.value for d in at.dataframe]  # (AppTest dataframes carry no key)
    diff = next(t for t in tables if "setting" in t.columns)
    assert list(diff["setting"]) == ["train.lr"]
    per_class = next(t for t in tables if "class" in t.columns)
    assert len(per_class) == 10 and per_class.shape[1] == 3  # class + one column per run


def test_lr_finder_fills_the_form_and_creates_no_run(runs_dir, monkeypatch) -> None:
    at = _page("pages/train.py", monkeypatch, runs_dir, show="lr_finder")
    at.session_state["data_cfg"] = DataConfig(name="digits", limit=400)
    at.session_state["model_cfg"] = default_run_config("digits").model
    at.run()
    before = sorted(p.name for p in runs_dir.iterdir())
    at.button(key="lrf_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.value.startswith("Suggested learning rate") for m in at.markdown)
    at.button(key="lrf_use").click().run()
    assert not at.exception
    suggested = next(m.value for m in at.markdown if m.value.startswith("Suggested"))
    assert f"**{at.session_state['tr_lr']:g}**" in suggested
    assert at.button(key="lrf_use").disabled  # the form has it now
    assert sorted(p.name for p in runs_dir.iterdir()) == before  # no run folder


def test_filmstrip_plays_and_an_embedding_point_opens_in_inspect(runs_dir, monkeypatch) -> None:
    at = _page("pages/inspect.py", monkeypatch, runs_dir, show="filmstrip")
    slider = at.select_slider(key="inside_film_at")  # landed on the Filmstrip view
    assert slider.value == slider.options[-1]
    at.button(key="inside_film_play").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.select_slider(key="inside_film_at").value == slider.options[1]  # first, then one on
    at.button(key="inside_film_pause").click().run()
    run_id = at.session_state["inside_run"]
    at.session_state[REQUEST] = InspectRequest(run_id, 3, "val")  # = Embedding's Open in Inspect
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c for image in at.image for c in image.captions]
    assert any(c.startswith("validation image #3, true class") for c in captions), captions
    at.button(key="inside_to_test").click().run()  # back to the test split
    assert any(c.startswith("test image #") for i in at.image for c in i.captions)
