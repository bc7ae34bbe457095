"""Inspect's Filmstrip and Embedding views over a run's snapshots (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab import cli
from cnnlab.runs import latest_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    runs = tmp_path / "watch-runs"
    args = ["--runs-dir", str(runs), "train", "--dataset", "digits", "--epochs", "1"]
    assert cli.main([*args, "--threads", "1", "--quiet"]) == cli.EXIT_OK
    monkeypatch.setenv("CNNLAB_RUNS", str(runs))
    return latest_run("finished", runs)


def _inspect() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/inspect.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_filmstrip_and_embedding_views(trained: str) -> None:
    at = _inspect()
    at.segmented_control(key="inside_view").set_value("Filmstrip").run()
    assert not at.exception, [e.value for e in at.exception]
    slider = at.select_slider(key="inside_film_at")
    assert slider.options[0].startswith("epoch 0") and slider.options[-1] == "epoch 1"
    slider.set_value(slider.options[0]).run()
    assert not at.exception
    at.segmented_control(key="inside_view").set_value("Embedding").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("plotly_chart")
