"""Export (issue 17.3): the standalone training script retrains a digits run to its accuracy
without cnnlab; every registered network is written as code that loads the run's weights and
gives its outputs; ONNX agrees with PyTorch (onnxruntime) within 1e-4 with a dynamic batch and
its metadata; `cnnlab import ZIP` brings a run zip back, bombs refused."""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.cli import EXIT_FAILED, EXIT_OK, main
from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.export import ScriptDataError, training_script
from cnnlab.export.model_code import check_model_code, model_code
from cnnlab.models import MODELS, build_model
from cnnlab.recipes import default_run_config
from cnnlab.runs import RunImportError, create_run, export_run_zip, get_run, import_run_zip
from cnnlab.runs.status import Status

EPOCHS = 3  # digits, classic: well under a second of training per epoch


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real digits run (the recipe, EPOCHS epochs) trained by the CLI: (runs dir, run id)."""
    runs = tmp_path_factory.mktemp("runs")
    args = ["--runs-dir", str(runs), "train", "--dataset", "digits", "--epochs", str(EPOCHS)]
    args += ["--threads", "1"]  # one thread: the script inherits it; fast on a busy CPU
    assert main([*args, "--quiet", "--no-watch.snapshots"]) == EXIT_OK
    (run_dir,) = runs.iterdir()
    return runs, run_dir.name


def _imports(source: str) -> set[str]:
    tree = ast.parse(source)
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {n.split(".")[0] for n in names}


def test_script_retrains_the_digits_run_without_cnnlab(
    digits_run: tuple[Path, str], tmp_path: Path
) -> None:
    runs, run_id = digits_run
    script = tmp_path / "train_digits.py"
    assert main(["--runs-dir", str(runs), "export", run_id, "--script", str(script)]) == EXIT_OK
    source = script.read_text()
    assert _imports(source) <= {
        "__future__",
        "copy",
        "math",
        "os",
        "collections",
        "dataclasses",
    } | {
        "numpy",
        "torch",
        "torchvision",
        "sklearn",  # digits is scikit-learn's dataset
    }
    assert "cnnlab" not in _imports(source)
    script_acc = _run_without_cnnlab(script)
    lab_acc = get_run(run_id, runs).metrics()["test_acc"]
    assert abs(script_acc - lab_acc) <= 0.015  # within 1.5 points
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert set(state) == set(get_run(run_id, runs).load_weights())  # the lab's keys


def _run_without_cnnlab(script: Path) -> float:
    """Run `script` in its folder where any `import cnnlab` fails; its printed test accuracy."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CNNLAB_RUNS")}
    guard = "import sys, runpy; sys.modules['cnnlab'] = None; "
    guard += f"runpy.run_path({str(script)!r}, run_name='__main__')"
    out = subprocess.run(
        [sys.executable, "-c", guard],
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found = re.search(r"test accuracy ([0-9.]+)", out.stdout)
    assert found, out.stdout
    return float(found.group(1))


def test_script_retrains_an_airnet_lookahead_run_as_the_lab_did(tmp_path: Path) -> None:
    """CIFAR-10's recipe network (AirNet: a whitening stem fitted to the training images,
    identity-started convs, batch-norm scales held at 1) with lookahead and the mirror: its
    script, without cnnlab, trains it again to the lab's test accuracy."""
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "train", "--dataset", "digits", "--model", "airnet"]
    args += ["--train.lookahead", "--model.flip-tta", "--epochs", "5", "--threads", "1"]
    assert main([*args, "--quiet", "--no-watch.snapshots"]) == EXIT_OK
    (run_dir,) = runs.iterdir()
    script = tmp_path / "train_airnet.py"
    assert main(["--runs-dir", str(runs), "export", run_dir.name, "--script", str(script)]) == 0
    text = script.read_text()
    assert "LOOKAHEAD = True" in text and "fit_whitening(model, train_split[0])" in text
    lab_acc = get_run(run_dir.name, runs).metrics()["test_acc"]
    assert abs(_run_without_cnnlab(script) - lab_acc) <= 0.015


def _custom() -> ModelConfig:
    blocks = (ConvBlock(8, kernel=5, stride=2, activation="gelu", pool="avg", dropout=0.1),)
    blocks += (ConvBlock(12, padding=0, batch_norm=False, activation="leaky_relu", pool="none"),)
    spec = ModelSpec(blocks=blocks, hidden=(32, 16), activation="tanh", global_pool=True)
    return ModelConfig(name="custom", spec=spec)


WRITABLE = list(MODELS)  # every registered network, AirNet's fitted stem included


@pytest.mark.parametrize("name", [*WRITABLE, "custom-spec"])
def test_written_network_loads_the_weights_and_gives_the_same_outputs(name: str) -> None:
    cfg = _custom() if name == "custom-spec" else ModelConfig(name=name, pretrained=False)
    pre = Preprocess(input_shape=(3, 16, 16), mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25))
    torch.manual_seed(0)
    model = build_model(cfg, pre, 7).eval()
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2)
    code = model_code(model, cfg.name)
    header = "from collections import OrderedDict\nimport torch\nimport torchvision\n"
    header += "from torch import nn\n"
    assert "cnnlab" not in code.build + code.classes
    assert check_model_code(header + code.classes + "\n" + code.build, model, 7) <= 1e-5


def _fake_run(dataset: str, model: str, shape: tuple[int, int, int], path: str = "") -> str:
    """A finished run with random weights (no training) on `dataset`."""
    cfg = default_run_config(dataset)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, path=path))
    run = create_run(dataclasses.replace(cfg, model=ModelConfig(name=model)))
    c = shape[0]
    pre = Preprocess(input_shape=shape, mean=(0.5,) * c, std=(0.25,) * c)
    torch.manual_seed(0)
    net = build_model(ModelConfig(name=model), pre, 4)
    run.write_meta({"class_names": list("abcd"), "preprocess": dataclasses.asdict(pre)})
    run.save_weights(net.state_dict())
    run.update_status(Status.FINISHED)
    return run.run_id


def test_the_script_scores_with_the_runs_test_time_views() -> None:
    """A run that predicts with the mirror and the 1-pixel shifts: its script validates and tests
    the same way (the lab's outputs), not with one view."""
    views = ModelConfig(name="classic", flip_tta=True, shift_tta=True)
    run = create_run(dataclasses.replace(default_run_config("digits"), model=views))
    pre = Preprocess(input_shape=(1, 8, 8), mean=(0.3,), std=(0.2,))
    torch.manual_seed(0)
    lab = build_model(views, pre, 10).eval()
    run.write_meta({"class_names": list("0123456789"), "preprocess": dataclasses.asdict(pre)})
    run.save_weights(lab.state_dict())
    run.update_status(Status.FINISHED)
    text = training_script(run.run_id).text
    assert "MIRROR_AT_TEST = True" in text and "SHIFT_AT_TEST = True" in text
    namespace: dict[str, object] = {}
    exec(compile(text, "<script>", "exec"), namespace)  # not __main__: it defines, trains nothing
    model = namespace["build_model"](pre.mean, pre.std, 10)  # type: ignore[operator]
    model.load_state_dict(lab.state_dict())
    model.eval()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(namespace["predict"](model, x), lab(x), atol=1e-5)  # type: ignore[operator]
        assert (model(x) - lab(x)).abs().max() > 1e-3  # one view would not do


UPLOAD = "upload:someone/0123456789abcdef/photos.zip"  # an uploaded zip: on the server only


def test_script_of_an_uploaded_zip_run_says_why_not(capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _fake_run("folder", "classic", (3, 16, 16), path=UPLOAD)
    with pytest.raises(ScriptDataError, match="uploaded zip"):
        training_script(run_id)
    assert main(["export", run_id, "--script", "x.py"]) == EXIT_FAILED
    assert "FOLDER_PATH" in capsys.readouterr().err


def test_script_generates_the_labs_very_shapes_images() -> None:
    from cnnlab.config import DataConfig, ShapesConfig
    from cnnlab.data import load_dataset
    from cnnlab.export.script_data import data_code

    data = DataConfig(name="shapes", num_images=60, image_size=16, seed=3)
    data = dataclasses.replace(data, shapes=ShapesConfig(difficulty=3, label_noise=0.2))
    cfg = dataclasses.replace(default_run_config("shapes"), data=data)
    run_id = create_run(cfg).run_id
    pre = Preprocess(input_shape=(3, 16, 16), mean=(0.5,) * 3, std=(0.25,) * 3)
    run = get_run(run_id)
    run.write_meta({"class_names": ["c"] * 6, "preprocess": dataclasses.asdict(pre)})
    run.save_weights(build_model(ModelConfig(name="fastnet"), pre, 6).state_dict())
    text = training_script(run_id).text  # settings + data section, as written
    namespace: dict[str, object] = {}
    exec(compile(text, "train.py", "exec"), namespace)  # not __main__: defines, does not train
    names, train, val, test = namespace["make_splits"]()  # type: ignore[operator]
    lab = load_dataset(data)
    for (x, y), split in zip((train, val, test), (lab.train, lab.val, lab.test), strict=True):
        assert torch.equal(x, split.x) and torch.equal(y, split.y)  # label noise included
    assert "flip_labels" in data_code(data).code


pytest.importorskip("onnxruntime", reason="the 'export' extra is not installed")


def test_onnx_agrees_with_pytorch_on_test_images(digits_run: tuple[Path, str]) -> None:
    import onnx
    import onnxruntime as ort

    from cnnlab.export.onnx_export import export_onnx
    from cnnlab.runs import load_model

    runs, run_id = digits_run
    exported = export_onnx(run_id, runs)
    assert exported.max_diff <= 1e-4 and exported.checked_on == "test images"
    proto = onnx.load_from_string(exported.data)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == [str(d) for d in range(10)]
    assert (props["input_shape"], props["input_dtype"]) == ("[batch, 1, 8, 8]", "float32")
    assert props["input_layout"] == "NCHW"
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 8, 8]
    session = ort.InferenceSession(exported.data, providers=["CPUExecutionProvider"])
    model = load_model(run_id, runs).model.eval()
    for batch in (1, 5):  # the dynamic batch dimension
        x = torch.rand(batch, 1, 8, 8, generator=torch.Generator().manual_seed(batch))
        got = session.run(None, {"images": x.numpy()})[0]
        with torch.no_grad():
            np.testing.assert_allclose(got, model(x).numpy(), atol=1e-4)


def test_onnx_of_another_net_without_its_dataset_and_the_cli(tmp_path: Path) -> None:
    run_id = _fake_run("folder", "fastnet", (3, 16, 16))  # no folder: random images
    out = tmp_path / "m.onnx"
    assert main(["export", run_id, "--onnx", str(out), "--json"]) == EXIT_OK
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.run(None, {"images": np.zeros((3, 3, 16, 16), np.float32)})[0].shape == (3, 4)


def test_missing_export_extra_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cnnlab.export import onnx_export

    monkeypatch.setattr(onnx_export, "missing_packages", lambda: ["onnxscript"])
    run_id = _fake_run("digits", "classic", (1, 8, 8))
    assert main(["export", run_id, "--onnx", "m.onnx"]) == EXIT_FAILED
    assert "pip install 'cnnlab[export]'" in capsys.readouterr().err


def test_import_command_and_a_zip_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _fake_run("digits", "classic", (1, 8, 8))
    path = tmp_path / "run.zip"
    path.write_bytes(export_run_zip(run_id))
    assert main(["import", str(path)]) == EXIT_OK
    new_id = capsys.readouterr().out.split()[-1]
    assert get_run(new_id).load_weights().keys() == get_run(run_id).load_weights().keys()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(f"{run_id}/events.jsonl", b"\n" * (100 * 2**20))  # 100 MB -> ~100 kB
    with pytest.raises(RunImportError, match="too large"):
        import_run_zip(buffer.getvalue())


def test_runs_page_offers_onnx_after_the_check_and_the_script() -> None:
    from streamlit.testing.v1 import AppTest

    upload_id = _fake_run("folder", "classic", (3, 16, 16), path=UPLOAD)
    digits_id = _fake_run("digits", "classic", (1, 8, 8))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"))
    at.run(timeout=60)
    at.switch_page("pages/runs.py")
    at.session_state.runs_pick = upload_id
    at.run(timeout=60)
    assert not at.exception, at.exception
    assert any("uploaded zip" in c.value for c in at.caption)  # why no script
    at.selectbox(key="runs_pick").set_value(digits_id)
    at.run(timeout=60)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download training script" in labels and "Download ONNX" not in labels
    at.button(key="export_onnx_make").click()
    at.run(timeout=120)
    assert not at.exception and not at.error, (at.exception, at.error)
    assert "Download ONNX" in [b.proto.label for b in at.get("download_button")]
    assert any("onnxruntime agrees with PyTorch" in c.value for c in at.caption)


@pytest.mark.parametrize("shift", [False, True], ids=["mirror", "mirror-and-shifts"])
def test_onnx_of_an_airnet_with_test_time_views_holds_them_and_agrees(shift: bool) -> None:
    """CIFAR-10's network (airnet, the mirror at test time; the 1-pixel shifts when ticked)
    exports with its fitted stem and its views: ONNX gives what the lab predicts."""
    from cnnlab.export.onnx_export import _to_onnx, max_difference
    from cnnlab.models import fit_whitening

    pre = Preprocess(input_shape=(3, 16, 16), mean=(0.5,) * 3, std=(0.25,) * 3)
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="airnet", flip_tta=True, shift_tta=shift), pre, 5)
    images = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8)
    fit_whitening(model, images)
    model.eval()
    data = _to_onnx(model, (3, 16, 16))
    x = images[:8].float() / 255
    assert max_difference(data, model, x) <= 1e-4
    if shift:  # the graph holds every view: without the last one, PyTorch disagrees with it
        model.shift_tta = False
    else:
        model.flip_tta = False
    assert max_difference(data, model, x) > 1e-3
