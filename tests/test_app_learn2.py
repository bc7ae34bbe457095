"""AppTest of the Learn page's part two (tabs 7-10): each lesson renders, every control changes
what it shows, the questions answer with an explanation, and each lesson links into the lab."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab.learn import tiny_runs
from tests.test_app_learn import array, learn_page, rerun

TABS = {7: "7 · Backpropagation", 8: "8 · Batch-norm & dropout", 9: "9 · Overfitting"}
TABS[10] = "10 · Augmentation"


REAL_TRAIN = tiny_runs.train_tiny


@pytest.fixture(autouse=True)
def _quick_tiny_runs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """The lessons' trainings for real, but tinier (3 epochs, 16 px, 300 images: CI time), and
    one cache folder for the module. tests/test_learn2.py trains the lessons' recipe itself."""
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path_factory.getbasetemp() / "learn2-cache"))

    def quick(setup: tiny_runs.TinySetup) -> tiny_runs.TinyCurves:
        small = dict(epochs=3, image_size=16, num_images=300)
        return REAL_TRAIN(dataclasses.replace(setup, **small))

    monkeypatch.setattr(tiny_runs, "train_tiny", quick)


def open_tab(n: int) -> AppTest:
    at = learn_page()
    at.session_state["learn_tab"] = TABS[n]
    return rerun(at)


def chart(at: AppTest, name: str) -> dict:
    """The figure whose PNG download is named after `name` (pages/ui/lessons.plot)."""
    for el in at.get("plotly_chart"):
        config = json.loads(el.proto.config or "{}")
        if name.replace(" ", "-") in config.get("toImageButtonOptions", {}).get("filename", ""):
            return json.loads(el.proto.spec)
    raise AssertionError(f"no chart {name!r}")


def data_of(figure: dict) -> list:
    return [array(t.get("z", t.get("y", t.get("x")))).round(9).tolist() for t in figure["data"]]


def changes(at: AppTest, name: str, widget: object, value: object) -> None:
    """Setting `widget` to `value` changes the chart `name`."""
    before = data_of(chart(at, name))
    widget.set_value(value)  # type: ignore[attr-defined]
    rerun(at)
    assert data_of(chart(at, name)) != before, f"{name} did not change"


def links(at: AppTest) -> set[str]:
    return {link.proto.label for link in at.get("page_link")}


def test_backprop_every_control_changes_the_step() -> None:
    at = open_tab(7)
    assert "Backpropagation" in [h.value for h in at.subheader]
    assert {"Train: LR finder", "Inspect: Filmstrip"} <= links(at)
    changes(at, "backprop forward", at.number_input(key="learn_bp_k11"), 1.0)
    changes(at, "backprop forward", at.number_input(key="learn_bp_bias"), 0.3)
    changes(at, "backprop output", at.selectbox(key="learn_bp_target"), 4)
    changes(at, "backprop backward", at.number_input(key="learn_bp_seed"), 5)
    changes(at, "backprop kernel", at.select_slider(key="learn_bp_lr"), 5.0)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Loss before"]) > 0 and "Loss after one step" in metrics


def test_batch_norm_and_dropout_controls_and_the_two_runs() -> None:
    at = open_tab(8)
    assert {"Model: the block editor", "Evaluate: per-class curves"} <= links(at)
    name = "batch norm histograms"
    changes(at, name, at.select_slider(key="learn_bn_batch"), 16)
    changes(at, name, at.slider(key="learn_bn_which"), 3)
    changes(at, name, at.slider(key="learn_bn_scale"), 4.0)
    changes(at, name, at.slider(key="learn_bn_shift"), -2.0)
    changes(at, name, at.slider(key="learn_bn_seen"), 0)
    changes(at, "dropout histograms", at.slider(key="learn_drop_p"), 0.2)
    changes(at, "batch-norm comparison", at.select_slider(key="learn_bn_lr"), 3e-3)
    at.radio(key="learn_bn_what").set_value("dropout")
    rerun(at)
    assert "with dropout 0.5" in json.dumps(chart(at, "dropout comparison")["layout"])


def test_overfitting_knobs_each_retrain_and_early_stopping_marks_an_epoch() -> None:
    at = open_tab(9)
    assert {"Evaluate: per-class curves", "Evaluate: results report"} <= links(at)
    gap = {m.label: m.value for m in at.metric}["Gap, yours"]
    changes(at, "overfitting accuracy", at.select_slider(key="learn_of_images"), 600)
    assert {m.label: m.value for m in at.metric}["Gap, yours"] != gap  # more images: other gap
    changes(at, "overfitting accuracy", at.select_slider(key="learn_of_noise"), 0.0)
    changes(at, "overfitting accuracy", at.select_slider(key="learn_of_decay"), 0.5)
    changes(at, "overfitting accuracy", at.toggle(key="learn_of_augment"), True)
    at.select_slider(key="learn_of_patience").set_value(3)
    rerun(at)
    assert "Early stopping keeps" in {m.label for m in at.metric}
    assert chart(at, "overfitting loss")["layout"].get("shapes")  # the dashed stop line


def test_augmentation_controls_change_the_batch() -> None:
    at = open_tab(10)
    assert {"Data: augmentation", "Evaluate: results report"} <= links(at)
    changes(at, "augmentations", at.slider(key="learn_aug_strength"), 1.0)
    changes(at, "augmentations", at.number_input(key="learn_aug_seed"), 7)
    changes(at, "augmentations", at.multiselect(key="learn_aug_which"), ["rotate"])
    changes(at, "augmentations", at.radio(key="learn_aug_data"), "digits")
    at.multiselect(key="learn_aug_which").set_value(["flip"])
    rerun(at)
    assert "never flips these" in " ".join(w.value for w in at.warning)
    assert "almost never" in " ".join(c.value for c in at.caption)


def test_a_question_answers_with_its_explanation() -> None:
    at = open_tab(7)
    at.radio(key="learn_q_backprop-pool").set_value(0)
    rerun(at)
    assert any(s.value.startswith("Right.") for s in at.success)
    at.radio(key="learn_q_backprop-pool").set_value(1)
    rerun(at)
    assert any("Not quite: it is **Only the largest one**" in e.value for e in at.error)
    at = learn_page()  # part one's tabs have their questions too
    assert at.radio(key="learn_q_conv-size") is not None


def test_the_tab_in_a_link_opens_part_two(monkeypatch: pytest.MonkeyPatch) -> None:
    at = AppTest.from_file(str(Path(__file__).parent.parent / "app.py"), default_timeout=120)
    at.run()
    at.query_params["tab"] = "9"
    at.switch_page("pages/learn.py").run()
    assert not at.exception
    assert "Overfitting and generalisation" in [h.value for h in at.subheader]
