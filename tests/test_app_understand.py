"""AppTest of the Understand pages (Evaluate, Inspect, Classify) and the classify helper.

The page numbers are checked against scikit-learn on predictions made here with
`cnnlab.evaluate.predict_probs` on the run's test split, never against values copied from the page.
One digits run (2 epochs, seconds) is trained per module in a shared runs folder.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from PIL import Image
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
)
from streamlit.testing.v1 import AppTest

from cnnlab import cli
from cnnlab.classify import classify_files, results_table
from cnnlab.data import load_dataset
from cnnlab.evaluate import predict_probs
from cnnlab.runs import latest_run, load_model
from cnnlab.text import md_escape

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["evaluate", "inspect", "classify"]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding one finished digits run, shared by this module's tests."""
    path = tmp_path_factory.mktemp("understand") / "runs"
    args = ["--runs-dir", str(path), "train", "--dataset", "digits", "--epochs", "2"]
    assert cli.main([*args, "--threads", "1", "--quiet"]) == cli.EXIT_OK
    return path


@pytest.fixture
def trained(runs_dir: Path, _private_dirs: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point this test at the shared runs folder (after conftest's private one); the run id."""
    monkeypatch.setenv("CNNLAB_RUNS", str(runs_dir))
    run_id = latest_run("finished", runs_dir)
    assert run_id
    return run_id


@pytest.fixture(scope="module")
def reference(runs_dir: Path) -> dict:
    """scikit-learn's metrics on the run's test split, from predict_probs."""
    run_id = latest_run("finished", runs_dir)
    loaded = load_model(run_id, runs_dir)
    test = load_dataset(loaded.config.data).test
    probs = predict_probs(loaded.model, test.x)  # (N, K)
    y, pred = test.y.numpy(), probs.argmax(axis=1)
    p64 = probs.astype(np.float64)  # rows sum to 1 within float32 rounding
    labels = list(range(len(loaded.class_names)))
    return {
        "names": loaded.class_names,
        "accuracy": accuracy_score(y, pred),
        "loss": log_loss(y, p64 / p64.sum(axis=1, keepdims=True), labels=labels),
        "per_class": precision_recall_fscore_support(y, pred, labels=labels, zero_division=0),
        "macro": precision_recall_fscore_support(y, pred, average="macro", zero_division=0),
        "weighted": precision_recall_fscore_support(y, pred, average="weighted", zero_division=0),
        "confusion": confusion_matrix(y, pred, labels=labels),
        "y": y,
        "pred": pred,
        "probs": p64,
    }


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()  # the app first: it initialises the session and switches Streamlit to st.navigation
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def png(color: int | tuple[int, int, int], size: tuple[int, int] = (40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L" if isinstance(color, int) else "RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def digit_png() -> bytes:
    """A dark '1' on white paper (the digits model wants it inverted)."""
    img = Image.new("L", (64, 64), 255)
    img.paste(0, (28, 8, 38, 56))
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def dark_digit_png() -> bytes:
    """A light '1' on black (already like the training digits: no inversion)."""
    img = Image.new("L", (64, 64), 0)
    img.paste(255, (28, 8, 38, 56))
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def charts(at: AppTest) -> list[go.Figure]:
    """The page's plotly figures, decoded (typed arrays become numpy arrays)."""
    return [pio.from_json(c.proto.spec, skip_invalid=True) for c in at.get("plotly_chart")]


def array(value: object) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array {dtype, bdata (base64), shape}."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value.get("shape", len(flat))).split(",")])
    return np.asarray(value)


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


# -- no runs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PAGES)
def test_page_without_runs_explains_what_to_do(name: str) -> None:
    at = open_page(name)
    assert not at.error
    assert any("No trained model yet" in i.value for i in at.info)
    assert any("train" in link.proto.page for link in at.get("page_link"))


# -- Evaluate -------------------------------------------------------------------------------------
def test_evaluate_numbers_equal_scikit_learn(trained: str, reference: dict) -> None:
    at = open_page("evaluate")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == f"{reference['accuracy']:.2%}"
    assert float(metrics["Test loss"]) == pytest.approx(reference["loss"], abs=2e-4)
    assert metrics["Test images"] == f"{reference['confusion'].sum():,}"

    tables = [d.value for d in at.dataframe]
    per_class = next(t for t in tables if "f1" in t and list(t["class"]) == reference["names"])
    averages = next(t for t in tables if "f1" in t and "macro avg" in list(t["class"]))
    for column, expected in zip(
        ["precision", "recall", "f1", "support"], reference["per_class"], strict=True
    ):
        np.testing.assert_allclose(per_class[column].to_numpy(dtype=float), expected, atol=1e-9)
    for row, name in ((0, "macro"), (1, "weighted")):
        got = averages.iloc[row][["precision", "recall", "f1"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, reference[name][:3], atol=1e-9)
    assert set(averages["support"]) == {reference["confusion"].sum()}


def test_evaluate_selectboxes_choose_a_confusion_cell(trained: str, reference: dict) -> None:
    names, confusion = reference["names"], reference["confusion"]
    at = open_page("evaluate")
    assert len(at.toggle) == 1  # counts / row-normalised
    off = confusion - np.diag(np.diag(confusion))
    cells = [(3, 3), np.unravel_index(off.argmax(), off.shape)]  # a diagonal and a mix-up cell
    for t, p in cells:
        at.selectbox(key="evaluate_true").set_value(names[t])
        at.selectbox(key="evaluate_pred").set_value(names[p]).run()
        assert not at.exception
        what = "correctly classified" if t == p else f"predicted as **{names[p]}**"
        count = int(confusion[t, p])
        assert f"**{count}** test images of class **{names[t]}** {what}" in markdown_text(at)
        opens = [b for b in at.button if str(b.key).startswith("evaluate_cell_")]
        assert len(opens) == min(count, 40)  # one "#index" button per tile
        members = np.flatnonzero((reference["y"] == t) & (reference["pred"] == p))
        assert {int(b.label.removeprefix("#")) for b in opens} <= set(members.tolist())


def test_evaluate_misclassified_gallery_lists_the_mistakes(trained: str, reference: dict) -> None:
    at = open_page("evaluate")
    y, pred, probs = reference["y"], reference["pred"], reference["probs"]
    wrong = np.flatnonzero(y != pred)
    opens = [b for b in at.button if str(b.key).startswith("evaluate_wrong_")]
    assert len(opens) == min(len(wrong), 40)
    shown = [int(b.label.removeprefix("#")) for b in opens]
    assert set(shown) <= set(wrong.tolist())
    assert (np.diff(probs[shown, pred[shown]]) <= 1e-6).all()  # most confident mistakes first


def test_evaluate_highest_loss_tiles_show_grad_cam_and_open_in_inspect(
    trained: str, reference: dict
) -> None:
    at = open_page("evaluate")
    opens = [b for b in at.button if str(b.key).startswith("evaluate_worst_")]
    assert len(opens) == 8
    losses = -np.log(reference["probs"][np.arange(len(reference["y"])), reference["y"]])
    worst = np.argsort(-losses, kind="stable")[:8]
    assert [int(b.label.removeprefix("#")) for b in opens] == worst.tolist()
    captions = [c for image in at.image for c in image.captions if "loss" in c]
    names = reference["names"]
    first = worst[0]
    assert captions[0].startswith(
        f"{names[reference['y'][first]]} → {names[reference['pred'][first]]}"
    )
    assert len(captions) == 8
    opens[1].click().run()  # the second-worst image
    assert not at.exception
    assert at.number_input(key="inside_index").value == worst[1]
    shown = [c for image in at.image for c in image.captions if c.startswith("test image #")]
    assert shown == [f"test image #{worst[1]}, true class **{names[reference['y'][worst[1]]]}**"]


def test_evaluate_normalised_toggle_and_training_curves(trained: str) -> None:
    at = open_page("evaluate")
    at.toggle[0].set_value(True).run()
    heat = next(f for f in charts(at) if f.data[0].type == "heatmap")
    rows = array(heat.data[0].z).astype(float)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-9)  # every digit class has images
    curves = next(f for f in charts(at) if len(f.data) == 4)  # train/val x loss/acc
    assert [len(array(trace.x)) for trace in curves.data] == [2, 2, 2, 2]  # two epochs


# -- Inspect --------------------------------------------------------------------------------------
def test_inspect_shows_every_conv_layer_and_grad_cam(trained: str) -> None:
    at = open_page("inspect")
    loaded = load_model(trained)
    conv = [n for n, _ in loaded.model.named_modules() if n.endswith("conv")]
    text = markdown_text(at)
    assert all(f"**{name}**" in text for name in conv)
    # default: the last conv with maps larger than 1x1 (8x8 digits shrink to 1x1 in block 2)
    assert at.selectbox(key="inside_layer").value == conv[-2] and not at.info
    at.selectbox(key="inside_layer").set_value(conv[-1]).run()
    assert "1×1 maps" in at.info[0].value  # a flat heat map: say so
    captions = [c for image in at.image for c in image.captions]
    assert (
        "input" in captions and sum(c.startswith(("predicted:", "chosen:")) for c in captions) == 2
    )
    at.selectbox(key="inside_class").set_value("7")
    at.number_input(key="inside_number").set_value(3).run()
    assert not at.exception
    at.selectbox(key="inside_layer").set_value(conv[0])
    at.slider(key="inside_alpha").set_value(0.8).run()
    assert not at.exception and not at.info


def test_inspect_picks_by_test_index_and_keeps_the_image_across_pickers(
    trained: str, reference: dict
) -> None:
    at = open_page("inspect")
    y, names = reference["y"], reference["names"]
    at.selectbox(key="inside_class").set_value("7")
    at.number_input(key="inside_number").set_value(3).run()
    index = int(np.flatnonzero(y == 7)[2])
    assert f"test image #{index}, true class **7**" in [c for i in at.image for c in i.captions]
    at.button_group(key="inside_pick_by").set_value("test #").run()
    assert at.number_input(key="inside_index").value == index  # the same image
    last = len(y) - 1
    at.number_input(key="inside_index").set_value(last).run()
    assert not at.exception
    assert f"test image #{last}, true class **{names[y[last]]}**" in [
        c for i in at.image for c in i.captions
    ]
    at.button_group(key="inside_pick_by").set_value("class").run()  # back: the same image
    assert at.selectbox(key="inside_class").value == names[y[last]]
    assert at.number_input(key="inside_number").value == int(np.count_nonzero(y == y[last]))


def test_inspect_uploaded_image(trained: str) -> None:
    at = open_page("inspect")
    at.button_group(key="inside_source").set_value("Upload").run()
    at.file_uploader(key="inside_upload").set_value(("one.png", digit_png(), "image/png")).run()
    assert not at.exception and not at.error
    captions = [c for image in at.image for c in image.captions]
    assert f"**{md_escape('one.png')}** (colours inverted)" in captions


# -- Classify -------------------------------------------------------------------------------------
def test_classify_upload_probabilities_sum_to_one(trained: str) -> None:
    at = open_page("classify")
    at.slider(key="classify_top_k").set_value(10)  # all ten classes in the bar chart
    at.file_uploader(key="classify_upload").set_value(("one.png", digit_png(), "image/png")).run()
    assert not at.exception and not at.error
    assert f"**{md_escape('one.png')}** →" in markdown_text(at)
    bars = [f for f in charts(at) if f.data[0].type == "bar" and len(f.data) == 1]  # not what-if
    assert len(bars) == 1 and len(array(bars[0].data[0].x)) == 10
    assert array(bars[0].data[0].x).sum() == pytest.approx(1.0, abs=1e-5)


def test_classify_bad_file_gets_its_own_error_and_others_are_classified(trained: str) -> None:
    at = open_page("classify")
    files = [
        ("bad.png", b"<html>not an image</html>", "image/png"),
        ("one.png", digit_png(), "image/png"),
        ("cut.png", digit_png()[:60], "image/png"),
    ]
    at.file_uploader(key="classify_upload").set_value(files).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert (
        len(errors) == 2
        and errors[0].startswith(f"**{md_escape('bad.png')}**")
        and "web page" in errors[0]
    )
    assert errors[1].startswith(f"**{md_escape('cut.png')}**")
    assert f"**{md_escape('one.png')}** →" in markdown_text(at)
    table = at.dataframe[0].value
    assert list(table["file"]) == ["bad.png", "one.png", "cut.png"]
    assert list(table["error"] != "") == [True, False, True]
    assert len(at.get("download_button")) == 1


def test_classify_too_large_file_is_skipped(trained: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pages.ui import common

    monkeypatch.setattr(common, "IMAGE_UPLOAD_MB", 1)  # the browser refuses larger files too
    at = open_page("classify")
    assert at.file_uploader(key="classify_upload").proto.max_upload_size_mb == 1
    files = [
        ("big.png", png(128, (400, 400)) + b"\0" * 2**20, "image/png"),
        ("one.png", dark_digit_png(), "image/png"),
    ]
    at.file_uploader(key="classify_upload").set_value(files).run()
    assert not at.exception
    assert any("the limit is" in e.value for e in at.error)
    assert f"**{md_escape('one.png')}** →" in markdown_text(at) and "big.png" not in markdown_text(
        at
    )


def test_classify_draw_asks_for_a_drawing_first(trained: str) -> None:
    at = open_page("classify")
    at.button_group[0].set_value("Draw").run()
    assert not at.exception
    assert any("Draw on the canvas first" in i.value for i in at.info)


# -- the helper behind Classify -------------------------------------------------------------------
def test_classify_files_keeps_order_reports_errors_and_inverts(trained: str) -> None:
    loaded = load_model(trained)
    files = [
        ("paper.png", digit_png()),
        ("junk.jpg", b"\xff\xd8\xff\xe0garbage"),
        ("dark.png", dark_digit_png()),
        ("blank.png", png(255)),
    ]
    results = classify_files(loaded.model, files, loaded.class_names, loaded.preprocess, k=3)
    assert [r.name for r in results] == ["paper.png", "junk.jpg", "dark.png", "blank.png"]
    paper, junk, dark, blank = results
    assert blank.blank and blank.error.startswith("nothing to read here") and not blank.prediction
    assert junk.error and junk.prediction is None and not paper.error and not dark.error
    assert paper.inverted and not dark.inverted  # auto: light background -> inverted
    assert paper.x.shape == tuple(loaded.preprocess.input_shape)
    for r in (paper, dark):
        assert r.prediction.probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert len(r.prediction.top) == 3 and r.heat.shape == paper.x.shape[1:]
    kept = classify_files(
        loaded.model,
        files[2:3],
        loaded.class_names,
        loaded.preprocess,
        invert=False,
        with_grad_cam=False,
    )[0]
    assert not kept.inverted and kept.heat is None and int(kept.x.float().mean()) < 127
    table = results_table(results)
    assert list(table.columns) == ["file", "top class", "confidence", "top-3", "error"]
    assert table["confidence"].isna().tolist() == [False, True, False, True]
    assert table["top class"].iloc[3] == "nothing to read"


def test_selections_from_another_run_fall_back_to_defaults(trained: str) -> None:
    """Keys left by a run with other classes or layers must not break the pages."""
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["evaluate_true"] = (
        "zebra"  # set before the widgets exist, as after a run switch
    )
    at.session_state["inside_class"] = "zebra"
    at.session_state["inside_layer"] = "features.0"
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    assert at.selectbox(key="evaluate_true").value in [str(d) for d in range(10)]
    at.switch_page("pages/inspect.py").run()
    assert not at.exception
    assert at.selectbox(key="inside_class").value == "0"
    assert at.selectbox(key="inside_layer").value == "net.block1.conv"
