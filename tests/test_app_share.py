"""AppTest: a share link's query string sets the Data, Model and Train widgets; locked controls
are disabled; a bad link warns and keeps defaults; a lesson binds a student's form; the Train
form starts from a `recipe_run`."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab.classroom.identity import issue_token, join, teacher_sign_in
from cnnlab.classroom.lesson import ClassLimits, FieldRange, Lesson, save_lesson
from cnnlab.config import (
    AugmentConfig,
    ConvBlock,
    DataConfig,
    ModelConfig,
    ModelSpec,
    RunConfig,
    ShapesConfig,
    TrainConfig,
    default_runs_dir,
)
from cnnlab.runs import create_run
from cnnlab.sharelink import SharedState, encode
from cnnlab.text import md_escape

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_with(page: str, params: dict[str, str], **state: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def by_key(elements: object, key: str) -> object:
    [found] = [e for e in elements if e.key == key]  # type: ignore[attr-defined]
    return found


@pytest.fixture
def classroom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Classroom mode on, with its own state folder (the settings are cached per process)."""
    from pages.ui.identity import classroom_settings

    monkeypatch.setenv("CNNLAB_CLASSROOM", "1")
    monkeypatch.setenv("CNNLAB_CLASSROOM_DIR", str(tmp_path / "classroom"))
    monkeypatch.setenv("CNNLAB_TEACHER_KEY", "teacher-key-for-tests")
    classroom_settings.clear()
    yield tmp_path / "classroom"
    classroom_settings.clear()


def test_a_query_string_sets_the_train_form_and_locks() -> None:
    params = {"data": "digits", "lr": "0.05", "epochs": "2", "optimizer": "adam"}
    at = open_with("train", params | {"_lock": "lr,epochs", "_hide": "schedule"})
    assert at.session_state.data_cfg == DataConfig(name="digits")
    lr, epochs = by_key(at.number_input, "tr_lr"), by_key(at.number_input, "tr_epochs")
    assert (lr.value, epochs.value) == (0.05, 2)
    assert lr.disabled and epochs.disabled
    assert not by_key(at.number_input, "tr_seed").disabled
    assert by_key(at.selectbox, "tr_optimizer").value == "adam"
    assert "tr_schedule" not in [s.key for s in at.selectbox]  # hidden
    assert any("Locked by the teacher's link: Learning rate, Epochs" in c.value for c in at.caption)
    assert at.query_params["lr"] == "0.05" and at.query_params["_lock"] == "lr,epochs"


def test_a_query_string_sets_the_dataset_and_the_custom_network() -> None:
    spec = ModelSpec(blocks=(ConvBlock(8), ConvBlock(16, kernel=5), ConvBlock(24)), hidden=(32,))
    shapes = DataConfig(shapes=ShapesConfig(difficulty=3), num_images=600)
    state = SharedState(data=shapes, model=ModelConfig(name="custom", spec=spec), editor_spec=spec)
    params = encode(state)
    at = open_with("data", params | {"_lock": "data"})
    assert at.session_state.data_cfg == shapes
    assert by_key(at.select_slider, "sh_difficulty").value == 3
    assert by_key(at.radio, "dataset_name").disabled
    assert by_key(at.select_slider, "sh_difficulty").disabled
    at.switch_page("pages/model.py")
    at.run()
    assert not at.exception, at.exception
    assert by_key(at.radio, "model_mode").value == "Custom"
    assert by_key(at.number_input, "blk2.filters").value == 24
    assert at.session_state.model_cfg.spec == spec


def test_the_page_writes_its_state_into_the_url() -> None:
    at = open_with("learn", {"tab": "3", "kernel": "blur"})
    assert at.session_state.learn_tab.startswith("3")
    assert by_key(at.selectbox, "learn_kernel").value == "blur"
    by_key(at.selectbox, "learn_kernel").set_value("sharpen").run()
    assert at.query_params["kernel"] == "sharpen" and at.query_params["tab"] == "3"
    [code] = [c for c in at.code if "kernel=sharpen" in c.value]
    assert "learn" in urllib.parse.urlparse(code.value).path or code.value.startswith("?")


def test_a_press_carrying_an_earlier_url_of_ours_keeps_the_session() -> None:
    """In a burst of presses the browser may send a URL this session wrote a few reruns ago (it
    had not yet taken the newer one): that is no new link, so the values stay. (It reset the
    Train form to the recipe, and a burst of Train presses queued a second run.)"""
    at = open_with("learn", {"tab": "3", "kernel": "blur"})
    by_key(at.selectbox, "learn_kernel").set_value("sharpen").run()
    assert at.query_params["kernel"] == "sharpen"
    at.query_params["kernel"] = "blur"  # the URL as this session wrote it first
    at.run()
    assert not at.exception, at.exception
    assert by_key(at.selectbox, "learn_kernel").value == "sharpen"
    assert at.query_params["kernel"] == "sharpen"
    at.query_params["kernel"] = "emboss"  # a URL this session never wrote: a new link
    at.run()
    assert by_key(at.selectbox, "learn_kernel").value == "emboss"


def test_a_bad_link_warns_and_keeps_the_defaults() -> None:
    at = open_with("model", {"net": "%%%garbage", "lr": "-3", "data": "../../etc"})
    [warning] = at.warning
    assert "could not be used" in warning.value and "lr" in warning.value
    assert at.session_state.data_cfg == DataConfig()
    assert at.session_state.custom_spec == ModelSpec()


def test_a_lesson_binds_a_students_form(classroom: Path) -> None:
    lesson = Lesson(
        title="edges",
        data=DataConfig(name="digits"),
        model=ModelConfig(name="lenet5"),
        train=TrainConfig(optimizer="sgd", lr=0.05, epochs=3),
        editable=(FieldRange("lr", 0.001, 0.1), FieldRange("epochs", 1, 8)),
        limits=ClassLimits(max_epochs=5),
    )
    save_lesson(lesson, classroom)
    from pages.ui.identity import classroom_settings

    settings = classroom_settings()
    ada = issue_token(join("Ada", settings.class_code, settings), settings)
    link = {"lr": "3", "optimizer": "adam", "_hide": "optimizer", "data": "mnist"}  # tries to
    at = open_with("train", link, identity_token=ada)  # lift the lesson
    assert at.session_state.data_cfg == DataConfig(name="digits")
    assert at.session_state.model_cfg == ModelConfig(name="lenet5")
    lr, epochs = by_key(at.number_input, "tr_lr"), by_key(at.number_input, "tr_epochs")
    assert lr.value == 0.1 and not lr.disabled and lr.max == 0.1 and lr.min == 0.001
    assert epochs.max == 5  # the class limit under the lesson's 8
    optimizer = by_key(at.selectbox, "tr_optimizer")
    assert optimizer.value == "sgd" and optimizer.disabled  # fixed by the lesson, shown
    assert any("Fixed by the lesson" in c.value for c in at.caption)
    plain = open_with("train", {}, identity_token=ada)  # no link: the lesson's starting values
    assert by_key(plain.number_input, "tr_lr").value == 0.05
    assert any("Starting values: the lesson" in c.value for c in plain.caption)
    key = issue_token(teacher_sign_in("teacher-key-for-tests", settings), settings)
    teacher = open_with("train", {"lr": "3"}, identity_token=key)
    assert by_key(teacher.number_input, "tr_lr").value == 3.0


def test_the_form_starts_from_a_recipe_run() -> None:
    cfg = RunConfig(
        data=DataConfig(name="digits"),
        augment=AugmentConfig(rotate_degrees=12.0),
        model=ModelConfig(name="lenet5"),
        train=TrainConfig(optimizer="adam", lr=0.0042, epochs=6, momentum=0.8),
    )
    run = create_run(cfg, default_runs_dir())
    at = open_with("train", {}, recipe_run=run.run_id)
    assert "recipe_run" not in at.session_state
    assert at.session_state.data_cfg == cfg.data and at.session_state.model_cfg == cfg.model
    assert by_key(at.number_input, "tr_lr").value == 0.0042
    assert by_key(at.number_input, "tr_epochs").value == 6
    assert by_key(at.selectbox, "tr_optimizer").value == "adam"
    assert at.session_state.tr_start.config.train.momentum == 0.8
    assert at.session_state.tr_augment is True
    assert any(f"Starting values: run {md_escape(run.run_id)}" in c.value for c in at.caption)
