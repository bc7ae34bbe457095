"""AppTest: the augmentation designed on the Data page is the one the Train form shows and the
started run saves (read back through cnnlab.runs), and the form can switch it off or reset it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab.config import AugmentConfig, DataConfig, RunConfig, ShapesConfig, default_runs_dir
from cnnlab.recipes import default_run_config
from cnnlab.runs import get_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def jobs() -> Iterator[None]:
    yield
    from pages.ui.common import _job_manager

    _job_manager(str(default_runs_dir())).close()  # stops the runs: only configs are tested
    _job_manager.clear()


def open_data(dataset: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state.data_cfg = DataConfig(name=dataset)
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception, at.exception
    return at


def to_train(at: AppTest) -> None:
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, at.exception


def form_caption(at: AppTest) -> str:
    [text] = [c.value for c in at.caption if c.value.startswith("Augmentation (")]
    return text


def press_train(at: AppTest) -> RunConfig:
    """Press Train; the started run's config, read back through cnnlab.runs."""
    at.button(key="train_submit").click()
    at.run()
    assert not at.exception, at.exception
    return get_run(at.session_state.run_id).config()


def test_rotation_set_on_data_is_shown_in_train_and_saved_with_the_run(jobs: None) -> None:
    at = open_data("digits")
    at.slider(key="aug.digits.rot").set_value(30).run()
    at.slider(key="aug.digits.shift").set_value(0.1).run()
    assert not at.exception
    to_train(at)
    assert "set on the Data page" in form_caption(at)
    assert "rotation ±30°, shift ±10%" in form_caption(at)
    assert at.toggle(key="tr_augment").value
    saved = press_train(at).augment
    assert saved == AugmentConfig(rotate_degrees=30.0, translate=0.1)
    assert at.session_state.data_cfg.name == "digits"


def test_the_form_switches_the_design_off_and_resets_it_to_the_recipe(jobs: None) -> None:
    at = open_data("digits")
    at.slider(key="aug.digits.rot").set_value(25).run()
    to_train(at)
    at.toggle(key="tr_augment").set_value(False)
    assert press_train(at).augment == AugmentConfig()  # switched off: trains without
    at.button(key="tr_augment_reset").click().run()
    assert not at.exception
    recipe = default_run_config("digits").augment
    assert "rotation ±8°" in form_caption(at) and at.toggle(key="tr_augment").value
    at.number_input(key="tr_epochs").set_value(1)  # other settings: not a double press
    assert press_train(at).augment == recipe
    at.switch_page("pages/data.py")
    at.run()
    assert at.slider(key="aug.digits.rot").value == int(recipe.rotate_degrees)  # Data agrees


def test_shapes_knobs_on_data_become_the_dataset(jobs: None) -> None:
    at = open_data("shapes")
    before = at.get("plotly_chart")[2].proto.spec  # the shapes preview
    at.select_slider(key="sh_difficulty").set_value(3).run()
    assert at.slider(key="sh_noise").value == pytest.approx(0.14)  # the level's values
    at.slider(key="sh_rotation").set_value(0.0).run()
    assert not at.exception and at.get("plotly_chart")[2].proto.spec != before
    at.button(key="sh_use").click().run()
    assert not at.exception
    assert at.session_state.data_cfg.shapes == ShapesConfig(3, rotation=0.0)
    to_train(at)
    assert press_train(at).data.shapes == ShapesConfig(3, rotation=0.0)
