"""AppTest of the Learn page: every tab renders, with and without a trained run, and each tab's
controls change what it shows."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from streamlit.testing.v1 import AppTest

from cnnlab import learn
from cnnlab.config import DataConfig
from cnnlab.data import load_dataset
from cnnlab.models import build_model
from cnnlab.recipes import default_run_config
from cnnlab.runs import create_run, load_model
from cnnlab.text import md_escape

APP = Path(__file__).resolve().parent.parent / "app.py"
SECTIONS = [
    "Convolution",
    "Step by step",
    "Activation functions",
    "Pooling",
    "From feature maps to classes",
    "Learning: gradient descent",
    "Your model",
]


def learn_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()  # the app registers its pages with st.navigation on the first run
    at.switch_page("pages/learn.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at: AppTest) -> list[dict]:
    """The plotly figures on the page, as dicts, in page order."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def array(value: object) -> np.ndarray:
    """A figure's data values: plotly sends numpy arrays as {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value, dtype=float)


def titles(figure: dict) -> list[str]:
    return [a.get("text", "") for a in figure["layout"].get("annotations", [])]


def figure_titled(at: AppTest, text: str) -> dict:
    matches = [f for f in figures(at) if any(text in t for t in titles(f))]
    assert matches, f"no figure with a title containing {text!r}"
    return matches[0]


def latex(at: AppTest) -> str:
    return "\n".join(el.value for el in at.latex)


def make_trained_run() -> str:
    """A finished run with weights (untrained ones: the page only reads them), in CNNLAB_RUNS."""
    cfg = default_run_config("digits")
    dataset = load_dataset(cfg.data)
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    run = create_run(cfg)
    run.write_meta(
        {
            "class_names": dataset.class_names,
            "preprocess": asdict(dataset.preprocess),
            "dataset_title": dataset.title,
            "model_title": cfg.model.name,
            "params": 1,
        }
    )
    run.save_weights(model.state_dict())
    run.update_status(status="finished")
    return run.run_id


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    img = PIL.Image.new("RGB", size, "white")
    img.paste((0, 0, 0), (size[0] // 3, size[1] // 3, size[0], size[1]))  # a dark corner: edges
    img.save(buffer, format="PNG")
    return buffer.getvalue()


# -- renders -------------------------------------------------------------------------------------


def test_every_section_renders_without_a_run() -> None:
    at = learn_page()
    assert [t.label for t in at.tabs] == [
        "1 · Convolution",
        "2 · Activation",
        "3 · Pooling",
        "4 · From maps to classes",
        "5 · Learning",
        "6 · Your model",
        "7 · Backpropagation",
        "8 · Batch-norm & dropout",
        "9 · Overfitting",
        "10 · Augmentation",
    ]  # part two (tabs 7-10) is drawn only while open: tests/test_app_learn2.py
    assert [h.value for h in at.subheader] == SECTIONS
    assert len(figures(at)) == 10  # conv, slide, multiply, curves, act, pool, dense, probs, 2x GD
    info = " ".join(i.value for i in at.info)
    assert "No trained model yet" in info and "Quick start" in info
    links = {link.proto.page for link in at.get("page_link")}
    # Home is the default page, whose url path is "" once st.navigation routes the app.
    assert {"model", "inspect"} <= links and links & {"home", ""}
    assert not at.error


def test_your_model_tab_shows_the_first_layers_of_a_trained_run() -> None:
    run_id = make_trained_run()
    at = learn_page()
    assert at.selectbox(key="learn_run").value == run_id
    loaded = load_model(run_id)
    shown = learn.dataset_image(load_dataset(DataConfig()), 0).picture  # the page's default image
    expected = learn.first_feature_maps(loaded.model, loaded.preprocess, shown).maps
    layers = [m.value for m in at.markdown if m.value.startswith("**Layer")]
    assert len(layers) == len(expected) == 2
    for text, (name, maps) in zip(layers, expected, strict=True):
        assert f"`{name}`" in text and f"{maps.shape[0]} feature maps of {maps.shape[1]}×" in text
    assert any("model input" in t for f in figures(at) for t in titles(f))
    assert not at.info and not at.error


# -- convolution ---------------------------------------------------------------------------------


def test_kernel_size_stride_and_padding_change_the_output_size() -> None:
    at = learn_page()
    assert r"\frac{32 + 2 \cdot 0 - 3}{1}" in latex(at) and r"\mathbf{30}" in latex(at)
    assert "feature map 30×30" in titles(figure_titled(at, "input 32×32"))
    at.radio(key="learn_size").set_value(5)
    at.slider(key="learn_stride").set_value(2)
    at.slider(key="learn_padding").set_value(1)
    rerun(at)
    assert r"\frac{32 + 2 \cdot 1 - 5}{2}" in latex(at) and r"\mathbf{15}" in latex(at)
    assert "feature map 15×15" in titles(figure_titled(at, "input 32×32"))


def test_choosing_another_kernel_changes_the_feature_map() -> None:
    at = learn_page()
    before = array(figure_titled(at, "input 32×32")["data"][1]["z"])  # (30, 30) Sobel x
    at.selectbox(key="learn_kernel").set_value("blur")
    rerun(at)
    after = array(figure_titled(at, "input 32×32")["data"][1]["z"])  # (30, 30) blur
    assert after.shape == before.shape == (30, 30)
    assert before.min() < 0 <= after.min()  # an edge detector has negative outputs, a blur not
    assert "blur" in " ".join(m.value for m in at.markdown)


def test_step_slider_moves_the_kernel_and_sums_the_products() -> None:
    at = learn_page()
    assert "output[0, 0]" in " ".join(titles(figure_titled(at, "products")))
    at.slider(key="learn_position_(6, 6)").set_value(8)  # 8th of 6 x 6 positions: row 1, col 1
    rerun(at)
    assert "output[1, 1]" in " ".join(titles(figure_titled(at, "products")))


def test_digits_and_upload_sources() -> None:
    at = learn_page()
    at.selectbox(key="learn_source").set_value("Digits (8×8 gray)")
    rerun(at)
    assert "test image 0 (8×8)" in " ".join(m.value for m in at.markdown)
    assert "input 8×8" in " ".join(t for f in figures(at) for t in titles(f))
    at.selectbox(key="learn_source").set_value("Upload your own image")
    rerun(at)
    at.file_uploader(key="learn_upload").set_value(("photo.png", png((200, 100)), "image/png"))
    rerun(at)
    assert f"**{md_escape('photo.png')}**, shown 32×64 in gray" in " ".join(
        m.value for m in at.markdown
    )
    assert "input 32×64" in " ".join(t for f in figures(at) for t in titles(f))


def test_a_broken_upload_or_a_kernel_too_big_is_explained_not_a_crash() -> None:
    at = learn_page()
    at.selectbox(key="learn_source").set_value("Upload your own image")
    rerun(at)
    at.file_uploader(key="learn_upload").set_value(("x.png", b"not an image", "image/png"))
    rerun(at)
    assert at.error  # the ImageError message; the lessons fall back to a shapes image
    at.file_uploader(key="learn_upload").set_value(("tiny.png", png((3, 3)), "image/png"))
    at.radio(key="learn_size").set_value(5)
    rerun(at)
    assert "does not fit" in " ".join(e.value for e in at.error)
    assert len(at.subheader) == len(SECTIONS)  # the other tabs still render


# -- activation, pooling, classes ------------------------------------------------------------------


def test_activation_choice_changes_the_zeroed_share() -> None:
    at = learn_page()
    zeroed = {m.label: m.value for m in at.metric}["Values that are exactly 0 after ReLU"]
    assert 30 <= int(zeroed.rstrip("%")) <= 70  # Sobel x on a shape: about half negative
    at.radio(key="learn_act").set_value("sigmoid")
    rerun(at)
    assert {m.label: m.value for m in at.metric}["Values that are exactly 0 after sigmoid"] == "0%"
    assert r"\sigma(x)" in latex(at)


def test_pooling_controls_change_the_shapes() -> None:
    at = learn_page()
    assert "max pool: 15×15" in titles(figure_titled(at, "after ReLU: 30×30"))
    at.slider(key="learn_window").set_value(3)
    at.slider(key="learn_pool_stride").set_value(3)
    at.radio(key="learn_pool").set_value("avg")
    rerun(at)
    assert "avg pool: 10×10" in titles(figure_titled(at, "after ReLU: 30×30"))
    assert r"\frac{30 - 3}{3}" in latex(at) and r"\mathbf{10}" in latex(at)
    assert "**900** numbers → **100** numbers" in " ".join(m.value for m in at.markdown)


def probabilities(at: AppTest) -> list[float]:
    bars = [f for f in figures(at) if f["data"] and f["data"][0].get("type") == "bar"]
    return list(array(bars[0]["data"][0]["y"]))


def test_temperature_changes_the_probabilities_and_the_loss() -> None:
    at = learn_page()
    warm = probabilities(at)
    loss = [el.value for el in at.latex if r"L = -\log p" in el.value]
    assert len(loss) == 1 and abs(sum(warm) - 1) < 1e-9
    at.select_slider(key="learn_temperature").set_value(0.1)
    rerun(at)
    cold = probabilities(at)
    assert max(cold) > max(warm)  # a low temperature sharpens
    assert [el.value for el in at.latex if r"L = -\log p" in el.value] != loss
    at.selectbox(key="learn_target").set_value(2)
    rerun(at)
    assert r"p_{\text{triangle}}" in latex(at)


# -- learning ------------------------------------------------------------------------------------


def test_learning_rate_presets_converge_crawl_and_diverge() -> None:
    at = learn_page()
    assert "Converged" in " ".join(s.value for s in at.success)
    at.radio(key="learn_lr_preset").set_value("too small")
    rerun(at)
    assert "Still on the way" in " ".join(w.value for w in at.warning)
    at.radio(key="learn_lr_preset").set_value("too large")
    rerun(at)
    assert "Diverged" in " ".join(e.value for e in at.error)
    path = [f for f in figures(at) if any(t.get("name") == "path" for t in f["data"])][0]
    trace = [t for t in path["data"] if t.get("name") == "path"][0]
    points = np.concatenate([array(trace["x"]), array(trace["y"])])
    assert np.isfinite(points).all() and np.abs(points).max() <= 5.0  # clipped to the plot


def test_momentum_and_your_own_learning_rate() -> None:
    at = learn_page()
    at.radio(key="learn_surface").set_value("valley")
    at.radio(key="learn_lr_preset").set_value("too large")
    rerun(at)
    assert at.error
    at.slider(key="learn_momentum").set_value(0.5)
    rerun(at)
    assert not at.error  # momentum lets the same step size settle
    at.radio(key="learn_lr_preset").set_value("your own")
    rerun(at)
    at.slider(key="learn_lr_valley").set_value(0.001)
    at.slider(key="learn_momentum").set_value(0.0)
    rerun(at)
    assert "Still on the way" in " ".join(w.value for w in at.warning)


@pytest.mark.parametrize("steps", [5, 100])
def test_steps_slider(steps: int) -> None:
    at = learn_page()
    at.slider(key="learn_steps").set_value(steps)
    rerun(at)
    curve = [f for f in figures(at) if f["layout"].get("yaxis", {}).get("type") == "log"][0]
    assert len(array(curve["data"][0]["x"])) == steps + 1
