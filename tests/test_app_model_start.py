"""AppTest of the Model page's "start from" picker: a preset or a saved run's network loads into
the custom block editor (the widgets follow), a network that is not a conv-block stack says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab import cli, designer
from cnnlab.config import ModelConfig
from cnnlab.runs import latest_run
from tests.test_app_home_data_model import open_app


def custom_mode():
    at = open_app("model")
    at.radio(key="model_mode").set_value("Custom").run()
    assert not at.exception
    return at


def test_a_preset_loads_into_the_editor() -> None:
    at = custom_mode()
    at.selectbox(key="model_start_preset").set_value("lenet5").run()
    assert any("Loads 2 conv blocks" in c.value for c in at.caption)
    at.button(key="model_start_load").click().run()
    assert not at.exception
    expected = designer.editor_start(ModelConfig(name="lenet5")).spec
    assert at.session_state.custom_spec == expected
    assert at.number_input(key="blk0.filters").value == 6  # the widgets show the loaded blocks
    assert at.selectbox(key="blk0.activation").value == "tanh"
    at.button(key="use_model").click().run()
    assert at.session_state.model_cfg == ModelConfig(name="custom", spec=expected)


def test_a_residual_preset_says_why_it_cannot_be_edited() -> None:
    at = custom_mode()
    at.selectbox(key="model_start_preset").set_value("resnet-small").run()
    assert any("cannot be edited here" in i.value and "skip connection" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "model_start_load"]


def test_a_saved_runs_network_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "train", "--dataset", "digits", "--model", "classic"]
    assert cli.main([*args, "--epochs", "1", "--threads", "1", "--quiet"]) == cli.EXIT_OK
    monkeypatch.setenv("CNNLAB_RUNS", str(runs))
    at = custom_mode()
    at.button_group(key="model_start_from").set_value("Saved run").run()
    assert at.selectbox(key="model_start_run").value == latest_run("finished", runs)
    at.button(key="model_start_load").click().run()
    assert not at.exception
    assert at.session_state.custom_spec == designer.editor_start(ModelConfig(name="classic")).spec
    assert [at.number_input(key=f"blk{i}.filters").value for i in (0, 1)] == [32, 64]
