"""Weight files from users: `.safetensors` or `.pt`/`.pth` state dicts, loaded without running code.

A weights file is untrusted input. `load_weights_file` recognises the format from the bytes
themselves (not the file name), caps the file size and the safetensors header length before
parsing anything, reads PyTorch files with `torch.load(weights_only=True, map_location="cpu")`
(explicitly: a pickle never runs code, and weights saved on a GPU load on a CPU-only machine),
and returns a flat `{name: tensor}` dict or raises `WeightsError` saying what the file is and what
is expected. `load_into_run` puts such a file into a run's architecture for inference.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors

from cnnlab.runs.loading import LoadedModel, WeightsError, build_run_model, load_state
from cnnlab.runs.store import get_run

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_WEIGHTS_BYTES",
    "WeightsError",
    "load_into_run",
    "load_weights_file",
]

MAX_WEIGHTS_BYTES = 200 * 2**20  # largest accepted file; resnet18 is ~45 MB
MAX_HEADER_BYTES = 16 * 2**20  # safetensors JSON header; ~100 bytes per tensor, so plenty
# Keys under which training scripts commonly nest the state dict (ours: checkpoint.pt "model").
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
PREFIXES = ("module.", "_orig_mod.")  # added by DataParallel/DDP and torch.compile
EXPECTED = (
    "expected a PyTorch state dict (saved with torch.save(model.state_dict(), "
    "'weights.pt')) or a .safetensors file"
)


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _read(data: bytes | bytearray | memoryview | str | Path, max_bytes: int) -> bytes:
    """The file's bytes; the size cap is checked before a path is read."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise WeightsError(
                    f"the weights file is {_mb(size)}, more than the "
                    f"{_mb(max_bytes)} limit: use a smaller model's weights"
                )
            data = path.read_bytes()
        except OSError as exc:
            raise WeightsError(
                f"cannot read the weights file {path.name}: {exc.strerror or exc}"
            ) from exc
    data = bytes(data)
    if len(data) > max_bytes:
        raise WeightsError(
            f"the weights file is {_mb(len(data))}, more than the "
            f"{_mb(max_bytes)} limit: use a smaller model's weights"
        )
    return data


def _describe(data: bytes) -> str:
    """What an unrecognised file looks like, for the error message."""
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "not a weights file (unrecognised binary data)"
    if text.lstrip().startswith(("{", "[")):
        return "a JSON/text file, not a weights file"
    return "a text file, not a weights file"


def _parse_safetensors(data: bytes) -> dict[str, torch.Tensor]:
    # Layout: 8 bytes little-endian header length N, N bytes of JSON, then the raw tensor data.
    header_len = int.from_bytes(data[:8], "little")
    if header_len > MAX_HEADER_BYTES:
        raise WeightsError(
            f"the safetensors header claims {header_len:,} bytes (the limit is "
            f"{_mb(MAX_HEADER_BYTES)}): the file is damaged or not a safetensors "
            "file; export the weights again"
        )
    if 8 + header_len > len(data):
        raise WeightsError(
            f"the safetensors file is truncated: its header needs {header_len:,} "
            f"bytes but the file has {len(data):,}; download or copy it again"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise WeightsError(
            f"the safetensors header is damaged ({exc}); export the weights again"
        ) from exc
    needed = 8 + header_len + max(ends, default=0)
    if needed > len(data):
        raise WeightsError(
            f"the safetensors file is truncated: it needs {needed:,} bytes but "
            f"has {len(data):,}; download or copy it again"
        )
    try:
        return load_safetensors(data)  # always CPU tensors: the format stores no device
    except Exception as exc:  # safetensors raises its own (Rust) error type
        raise WeightsError(
            f"the safetensors file is damaged ({exc}); export the weights again"
        ) from exc


def _unpickling_message(exc: Exception) -> str:
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    if not found:
        return f"the file is damaged or not a PyTorch file (it cannot be unpickled); {EXPECTED}"
    name = found.group(1)
    if name.startswith(("torch.nn.", "torchvision.", "__main__.")) or "models" in name:
        what = f"a whole pickled model ({name}, from torch.save(model))"
    else:
        what = f"Python objects besides tensors ({name})"
    return (
        f"the file holds {what}. For safety only tensors are loaded (unpickling other "
        "objects can run code), so save the weights alone: "
        "torch.save(model.state_dict(), 'weights.pt'), or a .safetensors file"
    )


def _parse_torch(data: bytes) -> Any:
    try:
        # Both arguments explicit: never run pickled code; weights saved on a GPU load on a CPU.
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(_unpickling_message(exc)) from exc
    except Exception as exc:  # zip/EOF/key errors of a damaged file
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise WeightsError(
            f"the PyTorch file is damaged or truncated ({detail}); save or copy it again"
        ) from exc


def _flat_state(obj: Any) -> dict[str, torch.Tensor]:
    """Unwrap `{"model": {...}}`-style checkpoints; check the result is a flat str -> Tensor dict."""
    for _ in range(3):  # e.g. {"checkpoint": ...} is not unwrapped; {"model": {"state_dict"}} is
        if not isinstance(obj, Mapping) or all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if isinstance(obj, torch.Tensor):
        raise WeightsError(
            f"the file holds a single tensor of shape {tuple(obj.shape)}, not a "
            f"state dict; {EXPECTED}"
        )
    if not isinstance(obj, Mapping):
        raise WeightsError(f"the file holds a {type(obj).__name__}, not a state dict; {EXPECTED}")
    if not obj:
        raise WeightsError(f"the file holds no tensors; {EXPECTED}")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise WeightsError(f"the file is a dict, but its key {key!r} is not text; {EXPECTED}")
        if not isinstance(value, torch.Tensor):
            raise WeightsError(
                f"the file is a dict, but {key!r} is not a tensor (its type is "
                f"{type(value).__name__}); "
                f"{EXPECTED}, or a checkpoint with it under one of {', '.join(WRAPPER_KEYS)}"
            )
        if value.layout != torch.strided or value.device.type != "cpu":
            raise WeightsError(
                f"tensor {key!r} is {value.layout} on {value.device}, not a plain "
                f"CPU tensor; {EXPECTED}"
            )
    state = dict(obj)
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_weights_file(
    data: bytes | str | Path, *, max_bytes: int = MAX_WEIGHTS_BYTES
) -> dict[str, torch.Tensor]:
    """A flat `{name: CPU tensor}` state dict from a `.safetensors` or `.pt`/`.pth` file.

    `data` is the file's bytes (an upload) or its path. Raises `WeightsError` only: the message
    says what the file is and what is expected. Never unpickles anything but tensors.
    """
    data = _read(data, max_bytes)
    if not data:
        raise WeightsError(f"the weights file is empty; {EXPECTED}")
    if data[:4] == b"PK\x03\x04" or data[:1] == b"\x80":  # torch.save: zip, or legacy pickle
        return _flat_state(_parse_torch(data))
    if len(data) >= 9 and data[8:9] == b"{":  # safetensors: u64 length, then a JSON object
        return _flat_state(_parse_safetensors(data))
    raise WeightsError(f"the file is {_describe(data)}; {EXPECTED}")


def _align(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Accept files saved from `model.net` alone (no "net." prefix, no normalisation buffers)."""
    own = model.state_dict()
    if not any(k in own for k in state) and all(f"net.{k}" in own for k in state):
        state = {f"net.{k}": v for k, v in state.items()}
    # The normalisation buffers are the run's preprocessing, not learned weights.
    for key in ("norm.mean", "norm.std"):
        if key in own and key not in state and any(k.startswith("net.") for k in state):
            state[key] = own[key]
    return state


def load_into_run(
    run_id: str,
    data: bytes | str | Path,
    *,
    runs_dir: str | Path | None = None,
    max_bytes: int = MAX_WEIGHTS_BYTES,
) -> LoadedModel:
    """The run's architecture (its config, classes, preprocessing) with weights from a user file.

    Nothing is written: the run's own weights stay as they are. Raises `RunNotFound` for an
    unknown run and `WeightsError` for a file that does not fit (mismatched shapes are named).
    """
    run = get_run(run_id, runs_dir)
    model, class_names, preprocess, cfg = build_run_model(run)  # WeightsError before training
    state = load_weights_file(data, max_bytes=max_bytes)
    source = Path(data).name if isinstance(data, (str, Path)) else "the uploaded file"
    load_state(
        model,
        _align(state, model),
        f"{source} (for run {run.run_id}: {cfg.model.name}, {len(class_names)} classes)",
    )
    model.pretrained_note = f"weights loaded from {source}"
    model.eval()
    meta = {**run.meta(), "weights_source": source}
    return LoadedModel(run.run_id, model, class_names, preprocess, cfg, meta)
