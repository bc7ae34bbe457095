"""AppTest of the Home, Data and Model pages, and the helpers behind them (gallery, designer).

Every test runs the real app.py with private runs/cache folders (conftest). Zips of class folders
are built here with Pillow.
"""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnnlab import designer
from cnnlab.config import ConvBlock, DataConfig, ModelConfig, ModelSpec
from cnnlab.data import DATASETS, FOLDER_ROOT_ENV, resolve_user_folder
from cnnlab.models import ACTIVATIONS
from cnnlab.runs import list_runs
from cnnlab.text import md_escape

APP = str(Path(__file__).resolve().parent.parent / "app.py")
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def class_zip(per_class: int = 6, broken: int = 1) -> bytes:
    """A zip of `pets/<colour>/<i>.png` (16x16 squares) plus `broken` unreadable .png files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, rgb in COLOURS.items():
            for i in range(per_class):
                image = Image.new("RGB", (16, 16), rgb)
                image.paste((255, 255, 255), (i, i, i + 4, i + 4))
                png = io.BytesIO()
                image.save(png, format="PNG")
                zf.writestr(f"pets/{name}/{i}.png", png.getvalue())
        for i in range(broken):
            zf.writestr(f"pets/red/broken{i}.png", b"this is not a png")
    return buffer.getvalue()


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def walk(node: object) -> list[object]:
    """Every node of an AppTest element tree below `node`, depth first."""
    found = []
    for child in getattr(node, "children", {}).values():
        found += [child, *walk(child)]
    return found


def box_with(at: AppTest, title: str) -> object:
    """The innermost editor box holding a markdown that starts with `title` and some inputs."""
    boxes = [
        node
        for node in walk(at.main)
        if any(n.type == "markdown" and n.value.startswith(title) for n in walk(node))
        and any(n.type in ("number_input", "text_input") for n in walk(node))
    ]
    return min(boxes, key=lambda node: len(walk(node)))


# -- Home -------------------------------------------------------------------------------------------


def test_home_explains_the_lab_and_links_every_page() -> None:
    at = open_app()
    assert at.title[0].value == "cnnlab"
    assert at.button[0].label.startswith("Quick start")
    links = {link.proto.page for link in at.get("page_link")}
    assert len(links) == 8


def test_quick_start_creates_a_run_and_opens_the_train_page() -> None:
    from pages.ui.common import job_manager

    at = open_app()
    at.button[0].click().run()
    runs = list_runs()
    try:
        assert len(runs) == 1
        assert at.session_state.run_id == runs[0].run_id
        assert at.session_state.data_cfg.name == "shapes"
        assert at.title[0].value == "Train", [t.value for t in at.title]
    finally:
        job_manager().stop(runs[0].run_id)  # no training on the shared CPU
        job_manager().close()


# -- Data -------------------------------------------------------------------------------------------


def test_data_page_shows_the_default_dataset() -> None:
    at = open_app("data")
    assert at.radio(key="dataset_name").value == "shapes"
    assert len(at.file_uploader) == 1
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Classes"] == "6" and metrics["Image size"] == "32×32"
    charts = [c.proto.id for c in at.get("plotly_chart")]
    assert len(charts) == 4  # class counts, samples, shapes preview, augmentation preview
    assert len(at.slider) == 5 + 6  # augmentation; shapes knobs (noise, clutter, size, ...)


def test_choosing_digits_sets_the_dataset_and_its_recipe_model() -> None:
    at = open_app("data")
    at.radio(key="dataset_name").set_value("digits")
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert at.session_state.data_cfg == DataConfig(name="digits")
    assert at.session_state.model_cfg == ModelConfig(name="classic")  # the digits recipe's model
    assert {m.label: m.value for m in at.metric}["Image size"] == "8×8"


def test_a_customised_model_is_kept_when_the_dataset_changes() -> None:
    at = open_app("data")
    at.session_state.model_cfg = ModelConfig(name="lenet5")
    at.radio(key="dataset_name").set_value("digits")
    at.form_submit_button[0].click().run()
    assert at.session_state.data_cfg.name == "digits"
    assert at.session_state.model_cfg == ModelConfig(name="lenet5")


def test_augmentation_controls_change_the_preview() -> None:
    at = open_app("data")
    before = at.get("plotly_chart")[-1].proto.spec
    at.slider(key="aug.shapes.rot").set_value(40).run()
    assert not at.exception
    assert at.get("plotly_chart")[-1].proto.spec != before


def test_uploaded_zip_becomes_the_current_dataset_and_lists_skipped_files() -> None:
    at = open_app("data")
    at.file_uploader[0].set_value(("pets.zip", class_zip(), "application/zip"))
    at.select_slider(key="zip_size").set_value(32)
    at.form_submit_button[1].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    cfg = at.session_state.data_cfg
    assert cfg.name == "folder" and cfg.image_size == 32 and Path(cfg.path).name == "pets.zip"
    assert md_escape("your images (pets.zip)") in at.sidebar.markdown[1].value
    assert {m.label: m.value for m in at.metric}["Classes"] == "3"
    assert any(e.label == "1 file(s) left out" for e in at.expander)
    assert any("skipped 1 unreadable" in w.value for w in at.warning)


def test_broken_zip_shows_an_error_and_the_page_still_works() -> None:
    at = open_app("data")
    at.file_uploader[0].set_value(
        ("broken.zip", b"PK\x03\x04 definitely not a zip", "application/zip")
    )
    at.form_submit_button[1].click().run()
    assert not at.exception
    assert at.error and "cannot be used" in at.error[0].value
    assert at.session_state.data_cfg == DataConfig()  # unchanged
    uploads = Path(os.environ["CNNLAB_CACHE"]) / "uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()]  # the refused upload was deleted


def test_an_upload_is_referenced_relatively_and_private_to_its_session() -> None:
    at = open_app("data")
    at.file_uploader[0].set_value(("pets.zip", class_zip(), "application/zip"))
    at.form_submit_button[1].click().run()
    ref = at.session_state.data_cfg.path
    assert ref.startswith("upload:") and ref.endswith("/pets.zip")  # no absolute path
    other = open_app("data")  # another browser session
    other.session_state.data_cfg = DataConfig(name="folder", path=ref)
    other.text_input(key="folder_path").set_value(ref)
    other.form_submit_button[2].click().run()
    assert other.error and "cannot be used" in other.error[0].value


def test_no_file_says_the_size_limit() -> None:
    at = open_app("data")  # a file the browser refused for its size leaves the uploader empty
    at.form_submit_button[1].click().run()
    assert "size limit of 200 MB" in at.error[0].value
    assert len(at.get("plotly_chart")) == 4  # the current dataset is still shown
    at.slider(key="aug.shapes.rot").set_value(10).run()  # and the page keeps working
    assert not at.exception


def test_too_large_upload_is_refused_before_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    from pages.ui import common

    monkeypatch.setattr(common, "MAX_UPLOAD_MB", 0)
    at = open_app("data")
    at.file_uploader[0].set_value(("pets.zip", class_zip(), "application/zip"))
    at.form_submit_button[1].click().run()
    assert "the limit is 0 MB" in at.error[0].value
    assert at.session_state.data_cfg == DataConfig()
    assert not (Path(os.environ["CNNLAB_CACHE"]) / "uploads").exists()  # nothing was saved


def test_folder_path_must_be_inside_the_folder_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    (root / "zips").mkdir(parents=True)
    (root / "zips" / "mine.zip").write_bytes(class_zip(broken=0))
    monkeypatch.setenv(FOLDER_ROOT_ENV, str(root))
    at = open_app("data")
    at.text_input(key="folder_path").set_value(str(tmp_path))
    at.form_submit_button[2].click().run()
    assert "cannot be used" in at.error[0].value and at.session_state.data_cfg.name == "shapes"
    at.text_input(key="folder_path").set_value("zips/mine.zip")  # relative to the root
    at.form_submit_button[2].click().run()
    assert not at.error
    assert at.session_state.data_cfg.path == str(root / "zips" / "mine.zip")


def test_missing_download_is_explained_without_breaking_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnnlab.data import torchvision_sets as datasets

    def offline(name: str, root: Path) -> Path:
        raise datasets.DatasetUnavailable(datasets._unavailable_message(name, root, "no network"))

    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("CNNLAB_DOWNLOAD_MIRROR", "http://127.0.0.1:9/")  # nobody answers there
    monkeypatch.setattr(datasets, "_download", offline)
    at = open_app("data")
    radio = at.radio(key="dataset_name")
    assert "not here yet" in radio.proto.captions[radio.options.index(DATASETS.get("mnist").title)]
    radio.set_value("mnist")
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert "python -m cnnlab datasets --download mnist" in at.error[0].value
    assert at.session_state.data_cfg.name == "shapes"


# -- Model ------------------------------------------------------------------------------------------


def totals(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Totals:"))


def test_model_page_shows_the_preset_summary_and_diagram() -> None:
    at = open_app("model")
    assert at.selectbox(key="model_preset").value == "fastnet"
    assert at.button(key="use_model").disabled  # it is already the current model
    table = at.dataframe[0].value
    assert {"layer", "output shape", "parameters", "multiply-adds"} <= set(table.columns)
    assert f"{table['parameters'].sum():,} parameters" in totals(at)
    assert len(at.get("plotly_chart")) == 1
    at.selectbox(key="model_preset").set_value("lenet5").run()
    at.button(key="use_model").click().run()
    assert at.session_state.model_cfg == ModelConfig(name="lenet5")
    at.checkbox(key="model_flip_tta").check().run()
    at.checkbox(key="model_shift_tta").check().run()
    assert not at.button(key="use_model").disabled  # the views make it another model
    at.button(key="use_model").click().run()
    assert at.session_state.model_cfg == ModelConfig("lenet5", flip_tta=True, shift_tta=True)


RECIPE_MODELS = sorted(
    {r.model for n in DATASETS for r in (DATASETS.get(n).recipe, DATASETS.get(n).long_recipe) if r},
    key=repr,
)


@pytest.mark.parametrize("model", RECIPE_MODELS, ids=lambda m: f"{m.name}-w{m.width:g}")
def test_the_model_page_shows_every_recipes_network_as_it_is(model: ModelConfig) -> None:
    """A recipe's network (CIFAR-10's long one is AirNet at width 4) opens on the Model page with
    its own preset, width and mirror, already in use: nothing falls back to another width."""
    at = open_app()
    at.session_state.model_cfg = model
    at.switch_page("pages/model.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="model_preset").value == model.name
    sliders = at.get("select_slider")
    assert sliders or model.width == 1.0  # a scaled network shows its width
    if sliders:
        assert at.select_slider(key="model_width").value == model.width
    assert at.checkbox(key="model_flip_tta").value == model.flip_tta
    assert at.checkbox(key="model_shift_tta").value == model.shift_tta
    assert at.button(key="use_model").disabled  # what it shows is the current model


def test_adding_a_block_changes_the_summary_and_use_sets_the_model() -> None:
    at = open_app("model")
    at.radio(key="model_mode").set_value("Custom").run()
    before = totals(at)
    at.button[[b.label for b in at.button].index("Add a conv block")].click().run()
    assert not at.exception
    assert len(at.session_state.custom_spec.blocks) == 3
    assert totals(at) != before
    at.number_input(key="blk0.filters").set_value(8).run()
    assert at.session_state.custom_spec.blocks[0].filters == 8
    at.button(key="use_model").click().run()
    assert at.session_state.model_cfg == ModelConfig(
        name="custom", spec=at.session_state.custom_spec
    )
    assert md_escape("custom (3 conv blocks)") in at.sidebar.markdown[1].value


def test_blocks_move_and_remove() -> None:
    at = open_app("model")
    at.session_state.custom_spec = ModelSpec(blocks=(ConvBlock(8), ConvBlock(16), ConvBlock(24)))
    at.radio(key="model_mode").set_value("Custom").run()
    at.button(key="blk2.arrow_upward").click().run()
    assert [b.filters for b in at.session_state.custom_spec.blocks] == [8, 24, 16]
    assert at.number_input(key="blk1.filters").value == 24  # the widgets follow the move
    at.button(key="blk0.delete").click().run()
    assert [b.filters for b in at.session_state.custom_spec.blocks] == [24, 16]


def custom_net_on_digits() -> AppTest:
    """The Model page in Custom mode with six stride-2 blocks on the 8x8 digits: too many."""
    at = open_app("data")
    at.radio(key="dataset_name").set_value("digits")  # 8x8 images
    at.form_submit_button[0].click().run()
    at.session_state.custom_spec = ModelSpec(blocks=(ConvBlock(16, stride=2),) * 6)
    at.switch_page("pages/model.py").run()
    at.radio(key="model_mode").set_value("Custom").run()
    assert not at.exception
    return at


def test_invalid_spec_is_explained_next_to_the_offending_block() -> None:
    at = custom_net_on_digits()
    box = box_with(at, "**Conv block 2**")
    errors = [n.value for n in walk(box) if n.type == "error"]
    assert errors and errors[0].startswith("block 2 (") and "too small" in errors[0]
    assert not at.get("dataframe")  # nothing to summarise
    bad_head = at.text_input(key="blkhidden")
    bad_head.set_value("128, lots").run()
    assert (
        "not a list of whole numbers"
        in [n.value for n in walk(box_with(at, "**Classifier**")) if n.type == "error"][0]
    )


def test_every_schema_field_gets_its_widget_in_the_block_editor() -> None:
    at = open_app("model")
    at.radio(key="model_mode").set_value("Custom").run()
    kinds = {"number": "number_input", "select": "selectbox", "checkbox": "checkbox"}
    widgets = {n.key: n for n in walk(at.main) if str(getattr(n, "key", "")).startswith("blk0.")}
    fields = designer.block_fields()
    for field in fields:  # a new field with `editable(...)` metadata is drawn with no page change
        widget = widgets[f"blk0.{field.name}"]
        assert widget.type == kinds[field.widget] and widget.label == field.label, field.name
        assert widget.value == getattr(at.session_state.custom_spec.blocks[0], field.name)
    drawn = {k.removeprefix("blk0.") for k in widgets if not k.startswith("blk0.arrow")}
    assert drawn - {"delete"} == {f.name for f in fields}
    at.selectbox(key="blk0.activation").set_value("gelu").run()
    at.checkbox(key="blk0.batch_norm").uncheck().run()
    block = at.session_state.custom_spec.blocks[0]
    assert block.activation == "gelu" and not block.batch_norm


def test_errors_go_to_the_block_named_by_the_error_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Labels in another wording: the page must place the error by `InvalidSpecError.layer`.
    from cnnlab.models import custom

    monkeypatch.setattr(custom, "block_label", lambda i, block: f"Schicht {i + 1}")
    at = custom_net_on_digits()
    box = box_with(at, "**Conv block 2**")
    errors = [n.value for n in walk(box) if n.type == "error"]
    assert errors and errors[0].startswith("Schicht 2:") and "too small" in errors[0]
    assert any(m.value == "**Conv block 1** → 16×2×2" for m in at.markdown)
    assert "see conv block 2" in at.error[-1].value


def test_a_huge_dense_layers_value_is_refused_with_a_message() -> None:
    at = open_app("model")
    at.radio(key="model_mode").set_value("Custom").run()
    at.text_input(key="blkhidden").set_value("1," * 50_000).run()  # 100k characters
    assert not at.exception
    assert len(at.text_input(key="blkhidden").value) <= 200  # the widget's own limit
    box = box_with(at, "**Classifier**")
    errors = [n.value for n in walk(box) if n.type == "error"]
    assert errors and "dense layers is too many; use at most 8" in errors[0]
    assert at.session_state.custom_spec.hidden == (128,)  # the last good value is kept
    assert totals(at)  # the page still shows the last good network


# -- helpers ----------------------------------------------------------------------------------------


def test_spec_edits_return_new_specs() -> None:
    spec = ModelSpec(blocks=(ConvBlock(8), ConvBlock(16)))
    assert [b.filters for b in designer.add_block(spec).blocks] == [8, 16, 32]
    assert [b.filters for b in designer.move_block(spec, 1, -1).blocks] == [16, 8]
    assert designer.move_block(spec, 0, -1) == spec
    assert [b.filters for b in designer.remove_block(spec, 0).blocks] == [16]
    assert designer.add_block(ModelSpec(blocks=())).blocks == (ConvBlock(),)
    actions = designer.block_actions(0, 2)
    assert [(icon, off) for icon, _, _, _, off in actions] == [
        ("arrow_upward", True),
        ("arrow_downward", False),
        ("delete", False),
    ]
    assert [off for *_, off in designer.block_actions(1, 2)] == [False, True, False]


def test_block_schema_comes_from_the_conv_block_metadata() -> None:
    schema = {f.name: f for f in designer.block_fields()}
    editable = [f.name for f in dataclasses.fields(ConvBlock) if "ui" in f.metadata]
    assert list(schema) == editable and "pool_size" not in schema  # no metadata: not edited
    assert schema["activation"].choices == tuple(ACTIVATIONS.names())  # from the registry
    assert schema["padding"].show(-1) == "same" and schema["padding"].show(2) == "2 px"
    assert schema["kernel"].show(5) == "5×5" and schema["kernel"].options(9) == [1, 3, 5, 7, 9]
    assert {f.widget for f in schema.values()} == {"number", "select", "checkbox"}


def test_check_blocks_places_shapes_and_the_error_by_layer() -> None:
    spec = ModelSpec(blocks=(ConvBlock(16, stride=2),) * 3)
    check = designer.check_blocks(spec, (1, 8, 8), 10)
    assert check.block_outputs == [(16, 2, 2), None, None]  # block 2 cannot pool a 1x1 image
    assert check.error is not None and check.error.layer == 1
    ok = designer.check_blocks(ModelSpec(), (1, 28, 28), 10)
    assert ok.error is None and ok.block_outputs == [(32, 14, 14), (64, 7, 7)]


def test_cost_is_measured_forward_and_backward() -> None:
    from cnnlab.data import load_dataset

    ds = load_dataset(DataConfig(name="digits"))
    view = designer.describe_model(ModelConfig(name="classic"), ds.preprocess, ds.num_classes)
    assert view.mult_adds == int(view.table["multiply-adds"].sum())
    assert 4 * view.mult_adds < view.train_flops <= 6 * view.mult_adds  # measured, not 6x
    assert view.stack[0] == ("input", "1×8×8") and view.stack[-1][1] == "10"


def test_user_folders_resolve_inside_the_root_only(tmp_path: Path) -> None:
    (tmp_path / "root" / "imgs").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "root" / "escape").symlink_to(tmp_path / "outside")
    root = (tmp_path / "root").resolve()
    assert resolve_user_folder("imgs", root) == root / "imgs"
    for bad in ["../outside", str(tmp_path / "outside"), "escape", "missing", ""]:
        with pytest.raises(ValueError):
            resolve_user_folder(bad, root)


def test_a_newly_registered_dataset_is_offered_on_the_data_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    from cnnlab.data import register_dataset

    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))  # undone after the test
    digits = DATASETS.get("digits")
    register_dataset(replace(digits, name="digits-again", title="Digits again (a test entry)"))
    at = open_app("data")
    radio = at.radio(key="dataset_name")
    assert "digits-again" in radio.options or "Digits again (a test entry)" in radio.options
    radio.set_value("digits-again")
    at.form_submit_button[0].click().run()
    assert not at.exception and at.session_state.data_cfg.name == "digits-again"
