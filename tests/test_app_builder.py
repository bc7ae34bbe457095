"""AppTest of the Data page's "Made in the browser" tab and the Make-a-dataset page's Train
button: a made dataset becomes the session's `folder` dataset; an empty class is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnnlab.data import made
from cnnlab.data import made_samples as ms

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def pets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> made.MadeDataset:
    monkeypatch.setenv("CNNLAB_DATASETS", str(tmp_path / "made"))
    ds = made.create_dataset("pets", None)
    for name, rgb in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        made.add_class(ds, name, None)
        ms.add_samples(ds, name, [Image.new("RGB", (20, 20), rgb) for _ in range(6)], None)
    return ds


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_data_page_uses_a_made_dataset(pets: made.MadeDataset) -> None:
    at = open_page("data")
    assert at.radio(key="made_dataset").options == ["pets"]
    at.radio(key="made_dataset").set_value("pets")
    next(
        b for b in at.button if b.label == "Use this dataset" and "made" in str(b.proto.form_id)
    ).click()
    at.run()
    assert not at.exception
    assert at.session_state.data_cfg == made.data_config(pets)
    assert not at.session_state.upload_note


def test_builder_train_button_refuses_an_empty_class(pets: made.MadeDataset) -> None:
    made.add_class(pets, "green", None)
    at = open_page("make-dataset")
    at.button(key="builder_train").click()
    at.run()
    assert any("class green has no samples" in e.value for e in at.error)
    assert at.session_state.data_cfg.name == "shapes"
