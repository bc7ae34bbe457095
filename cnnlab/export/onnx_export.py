"""A run's model as ONNX, checked against onnxruntime before it is handed out.

`export_onnx(run_id, runs_dir) -> OnnxExport` exports the run's `Classifier` with
`torch.onnx.export(..., dynamo=True)` (onnxscript): input `images` float32 (batch, C, H, W) in
[0, 1], NCHW, dynamic batch; the normalisation is inside the graph, as in the lab; output
`logits` (batch, K). The file's metadata_props say so and carry the class names (JSON). The
export is then run by onnxruntime on the run's test images (up to `CHECK_IMAGES`, spread over
the split; random images in [0, 1] when the dataset is not on this machine, and the result says
which) and refused when any output differs from PyTorch's by more than `MAX_DIFF`.

onnx, onnxscript and onnxruntime are the optional extra `export` (`pip install cnnlab[export]`);
without them `OnnxUnavailable` says how to install them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import cnnlab

MAX_DIFF = 1e-4  # largest |ONNX logit - PyTorch logit| accepted
CHECK_IMAGES = 256  # test images the export is checked on (evenly spread over the split)
RANDOM_IMAGES = 64  # random images in [0, 1] when the dataset is not available here
OPSET = 18  # the ONNX opset written (onnxruntime >= 1.14 runs it)
EXPORT_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
INSTALL_HINT = "pip install 'cnnlab[export]'  (or: pip install onnx onnxscript onnxruntime)"


class OnnxUnavailable(RuntimeError):
    """The optional export packages are missing; the message says how to install them."""


class OnnxCheckFailed(ValueError):
    """The exported graph disagrees with PyTorch (or could not be run); names the difference."""


@dataclass(frozen=True)
class OnnxExport:
    data: bytes  # the .onnx file
    run_id: str
    max_diff: float  # largest |onnxruntime - PyTorch| over the checked images' logits
    checked: int  # images compared
    checked_on: str  # "test images" or "random images (the dataset is not available here)"
    input_shape: tuple[int, int, int]  # (C, H, W); the batch dimension is dynamic
    class_names: tuple[str, ...]


def missing_packages() -> list[str]:
    """The export extra's packages that are not installed (import names)."""
    return [name for name in EXPORT_PACKAGES if importlib.util.find_spec(name) is None]


def require_export_extra() -> None:
    """OnnxUnavailable naming what is missing and how to install it."""
    missing = missing_packages()
    if missing:
        raise OnnxUnavailable(
            f"ONNX export needs {', '.join(missing)}, which are not installed: {INSTALL_HINT}"
        )


def metadata(run_id: str, shape: tuple[int, ...], names: list[str], model: str) -> dict[str, str]:
    """The metadata_props written into the file (all values are strings)."""
    c, h, w = shape
    return {
        "cnnlab_run": run_id,
        "cnnlab_version": cnnlab.__version__,
        "model": model,
        "input_name": "images",
        "input_shape": f"[batch, {c}, {h}, {w}]",
        "input_dtype": "float32",
        "input_layout": "NCHW",
        "input_range": "[0, 1] (pixel / 255); mean/std normalisation is inside the graph",
        "output": "logits [batch, num_classes]; softmax gives probabilities",
        "class_names": json.dumps(names),
    }


def _to_onnx(model: torch.nn.Module, shape: tuple[int, int, int]) -> bytes:
    """The dynamo export of `model` (eval mode) with a dynamic batch dimension, as bytes."""
    example = torch.rand(2, *shape)
    batch = torch.export.Dim("batch", min=1, max=65536)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress and deprecation notes
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes={"x": {0: batch}},
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )
    if program is None:
        raise OnnxCheckFailed("torch.onnx.export returned no program")
    return program.model_proto.SerializeToString()


def _with_metadata(data: bytes, props: dict[str, str]) -> bytes:
    import onnx

    proto = onnx.load_from_string(data)
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _check_images(run_id: str, runs_dir: str | Path | None, shape: tuple[int, ...]) -> tuple:
    """(float images (N, C, H, W) in [0, 1], what they are): the run's test images, spread
    over the split, or random ones when its dataset cannot be loaded here."""
    from cnnlab.data import DatasetUnavailable, load_dataset
    from cnnlab.runs import get_run

    try:
        test = load_dataset(get_run(run_id, runs_dir).config().data).test
        if tuple(test.x.shape[1:]) != tuple(shape):
            raise ValueError("the dataset's images no longer have the run's shape")
        index = torch.linspace(0, len(test.x) - 1, min(CHECK_IMAGES, len(test.x))).long()
        return test.x[index].float() / 255, "test images"
    except (DatasetUnavailable, ValueError, OSError):
        generator = torch.Generator().manual_seed(0)
        images = torch.rand(RANDOM_IMAGES, *shape, generator=generator)
        return images, "random images (the run's dataset is not available here)"


def max_difference(data: bytes, model: torch.nn.Module, images: torch.Tensor) -> float:
    """Largest |onnxruntime logits - PyTorch logits| on `images` (N, C, H, W), run in two
    batches of different sizes (so the dynamic batch dimension is exercised too)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a check, not a benchmark: leave the cores to training
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    model.eval()
    worst, half = 0.0, max(1, len(images) // 2 + 1)
    for part in (images[:half], images[half:]):
        if len(part) == 0:
            continue
        got = session.run(["logits"], {"images": part.numpy().astype(np.float32)})[0]
        with torch.inference_mode():
            want = model(part).numpy()
        if got.shape != want.shape:
            raise OnnxCheckFailed(f"ONNX output shape {got.shape}, PyTorch {want.shape}")
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def export_onnx(run_id: str, runs_dir: str | Path | None = None) -> OnnxExport:
    """The run's model as a checked ONNX file (see the module docstring). Raises
    OnnxUnavailable (extra missing), OnnxCheckFailed (disagreement), or the run's own
    loading errors (RunNotFound, WeightsError)."""
    from cnnlab.runs import load_model

    require_export_extra()
    loaded = load_model(run_id, runs_dir)
    model = loaded.model.cpu().eval()
    shape = tuple(int(v) for v in loaded.preprocess.input_shape)
    try:
        raw = _to_onnx(model, shape)  # type: ignore[arg-type]
    except Exception as exc:  # the exporter raises many kinds; say which and stop
        raise OnnxCheckFailed(f"torch.onnx.export failed: {type(exc).__name__}: {exc}") from exc
    props = metadata(run_id, shape, loaded.class_names, loaded.config.model.name)
    data = _with_metadata(raw, props)
    images, what = _check_images(run_id, runs_dir, shape)
    diff = max_difference(data, model, images)
    if not diff <= MAX_DIFF:  # also refuses NaN
        raise OnnxCheckFailed(
            f"the ONNX model's outputs differ from PyTorch's by up to {diff:.3g} on {what} "
            f"(limit {MAX_DIFF:g}): not offered"
        )
    return OnnxExport(data, run_id, diff, len(images), what, shape, tuple(loaded.class_names))  # type: ignore[arg-type]
