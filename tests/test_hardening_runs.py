"""Hardening: bad weight files, training faults, path tricks and damaged run folders.

Every bad input is built in code. Each case asserts a clear message (what was wrong, what to do),
that the caller (the "server") keeps working, and that nothing already saved is lost.

| case | expected | test |
|---|---|---|
| checkpoint that runs code when unpickled (zip, legacy and raw pickle) | WeightsError, the code never runs (control: it does run with weights_only=False) | test_pickle_that_runs_code_is_refused_without_running_it |
| a whole pickled module, `torch.save(model)` | WeightsError "whole pickled model ... state_dict()" | test_whole_pickled_module_is_refused_with_a_state_dict_hint |
| empty / truncated .pt / random / text / JSON / PNG file | WeightsError naming what the file is + what is expected | test_damaged_or_foreign_files_are_refused_clearly |
| truncated safetensors (data or header cut) | WeightsError "truncated ... copy it again" | test_damaged_or_foreign_files_are_refused_clearly |
| safetensors header claiming 2**40 bytes, garbage header | WeightsError before the parser runs | test_damaged_or_foreign_files_are_refused_clearly |
| file larger than the cap | WeightsError "limit", checked before a path is read | test_size_cap_is_checked_before_reading |
| state dict as .safetensors/.pt/legacy .pt, wrapped in model/state_dict/model_state_dict, `module.` prefix, a cnnlab checkpoint.pt | loads as a flat str -> Tensor dict | test_state_dict_formats_and_wrappers_load |
| a tensor, a list, nested dict, non-tensor values, empty dict | WeightsError "not a state dict" / names the bad key | test_not_a_flat_state_dict_is_refused |
| weights saved on CUDA (storages tagged "cuda:0"), loaded on a CPU-only machine | loads on the CPU (control: fails without map_location) | test_cuda_saved_weights_load_on_the_cpu |
| every torch.load / safetensors load path | weights_only=True and map_location/device "cpu", explicitly | test_every_load_path_is_weights_only_on_cpu, test_every_torch_load_in_the_backend_is_weights_only |
| user file that fits the run | eval-mode model with the file's weights; run's files unchanged | test_load_into_run_with_matching_weights |
| file saved from `model.net` alone | loads, with the run's normalisation | test_load_into_run_accepts_weights_of_the_bare_network |
| weights for another class count | WeightsError naming the shape mismatch; run still loads | test_load_into_run_names_a_class_count_mismatch |
| weights for another architecture | WeightsError "another architecture", missing/unexpected | test_load_into_run_names_another_architecture |
| NaN weights | WeightsError "NaN ... lower learning rate" | test_load_into_run_refuses_nan_weights |
| run that has not trained / unsafe run id | WeightsError "has not started training" / RunNotFound | test_load_into_run_needs_a_trained_run |
| divergence (lr 1e6) | status diverged, "lower the learning rate", saved weights finite | test_divergence_marks_the_run_diverged_with_finite_weights |
| batch size larger than the dataset | finished, one full batch per epoch | test_batch_larger_than_the_dataset_trains |
| 0 epochs | finished, 0 epochs done, initial weights saved and loadable | test_zero_epochs_finishes_with_initial_weights |
| onecycle schedule with 1-5 steps in all (4 used to divide 0/0; the last lr went below 0) | finishes, every lr in (0, peak] | test_one_cycle_schedule_with_very_few_steps_trains |
| out of memory mid-epoch (RuntimeError) / MemoryError | failed "lower the batch size", events kept, the same process trains the next run | test_out_of_memory_fails_the_run_not_the_server |
| disk full while saving weights | failed, message mentions the disk, previous weights intact, no temp files | test_disk_full_while_saving_weights_keeps_the_previous_weights |
| disk full while writing a checkpoint | failed, disk message, previous checkpoint intact | test_disk_full_while_checkpointing_keeps_the_previous_checkpoint |
| disk stays full (status can't be written either) | execute_run still returns "failed", never raises | test_disk_full_everywhere_never_raises |
| job SIGKILLed mid-epoch (crash/OOM killer) | failed "perhaps out of memory", events kept, resumable from its checkpoint | test_killed_job_can_be_resumed_from_its_checkpoint |
| restart: a dead run's pid now belongs to another process | interrupted (not "running" forever, blocking the queue) | test_restart_with_a_reused_pid_marks_the_run_interrupted |
| run folder symlinked to outside the runs folder | refused by get_run/delete_run/export, not listed, target kept, manager starts | test_symlinked_run_folder_is_refused_everywhere |
| delete_run with crafted ids (../x, absolute, x/..) | RunNotFound, nothing outside deleted | test_delete_run_with_crafted_ids_deletes_nothing_outside |
| delete_run of a run holding a symlink to a folder outside | run deleted, outside folder intact | test_delete_run_does_not_follow_symlinks_inside |
| export_run_zip of a run with symlinks to /etc/passwd and a secret | the links are left out | test_export_zip_leaves_out_symlinks |
| damaged run folder (garbage/ill-typed config, missing/invalid/ill-typed status, meta, metrics) | others listed, broken one shown failed (or as its status when only metrics are bad), manager starts | test_list_runs_survives_a_damaged_run_folder |
| events.jsonl with garbage, binary, non-object and torn lines | only the event objects are returned | test_events_with_garbage_lines_are_skipped |
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import random
import re
import signal
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from safetensors.torch import save as save_safetensors
from torch import nn

import cnnlab.jsonio as jsonio_module
import cnnlab.runs.store as runs_module
import cnnlab.runs.weights as weights_module
import cnnlab.training as training_module
from cnnlab.config import DataConfig, ModelConfig, Preprocess, RunConfig, TrainConfig
from cnnlab.events import BatchEvent, EpochEvent, StartEvent, kind_of
from cnnlab.models import Classifier, build_model
from cnnlab.recipes import default_run_config
from cnnlab.runs import (
    Run,
    RunNotFound,
    WeightsError,
    create_run,
    delete_run,
    export_run_zip,
    get_run,
    list_runs,
    load_model,
    resolve_runs_dir,
)
from cnnlab.runs.jobs import JobManager
from cnnlab.runs.runner import execute_run
from cnnlab.runs.weights import load_into_run, load_weights_file
from cnnlab.training import train

CNNLAB = Path(__file__).resolve().parent.parent / "cnnlab"
DIGITS = Preprocess(input_shape=(1, 8, 8), mean=(0.3,), std=(0.4,), light_background=False)


# ---- helpers -----------------------------------------------------------------------------------


def _state() -> dict[str, torch.Tensor]:
    return {"layer.weight": torch.arange(12.0).reshape(3, 4), "layer.bias": torch.zeros(3)}


def _torch_bytes(obj: Any, *, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _RunsCode:
    """Unpickling this calls `Path(marker).touch()`: the classic pickle exploit, made harmless."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _digits_run(num_classes: int = 10, model: str = "classic") -> tuple[Run, Classifier]:
    """A run as if it had trained on digits: config, meta and weights, without training."""
    run = create_run(
        dataclasses.replace(default_run_config("digits"), model=ModelConfig(name=model))
    )
    torch.manual_seed(0)
    net = build_model(ModelConfig(name=model), DIGITS, num_classes)
    run.write_meta(
        {
            "class_names": [str(i) for i in range(num_classes)],
            "preprocess": dataclasses.asdict(DIGITS),
        }
    )
    run.save_weights(net.state_dict())
    run.update_status("finished")
    return run, net


def _cfg(epochs: int = 1, limit: int = 200, **train_fields: Any) -> RunConfig:
    """Small, fast digits config (8x8 images, `limit` training images, one thread, CPU)."""
    cfg = default_run_config("digits")
    return dataclasses.replace(
        cfg,
        data=DataConfig(name="digits", limit=limit),
        train=dataclasses.replace(
            cfg.train, epochs=epochs, threads=1, device="cpu", **train_fields
        ),
    )


@pytest.fixture
def run_here() -> Iterator[Callable[[RunConfig], tuple[Run, str]]]:
    """Execute a run in this process (as the job process would); restores the SIGTERM handler
    that execute_run installs, so pytest's own handling is unchanged afterwards."""
    previous = signal.getsignal(signal.SIGTERM)

    def run(cfg: RunConfig) -> tuple[Run, str]:
        created = create_run(cfg)
        return created, execute_run(created)

    yield run
    signal.signal(signal.SIGTERM, previous)


def _disk_full(*args: Any, **kwargs: Any) -> None:
    raise OSError(28, "No space left on device")


# ---- weight files ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["zip", "legacy", "raw-pickle"])
def test_pickle_that_runs_code_is_refused_without_running_it(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "code-ran"
    payload = {"weight": torch.ones(2), "x": _RunsCode(marker)}
    data = {
        "zip": lambda: _torch_bytes(payload),
        "legacy": lambda: _torch_bytes(payload, legacy=True),
        "raw-pickle": lambda: pickle.dumps(payload, protocol=2),
    }[kind]()
    path = tmp_path / "evil.pt"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(WeightsError, match="only tensors are loaded") as err:
            load_weights_file(source)
        assert "state_dict()" in str(err.value)
        assert not marker.exists()
    # Control: the file really is an exploit, so the refusal above is what protected us.
    if kind == "raw-pickle":
        pickle.loads(data)
    else:
        torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "module",
    [nn.Linear(4, 3), build_model(ModelConfig(), DIGITS, 10)],
    ids=["nn.Linear", "cnnlab-Classifier"],
)
def test_whole_pickled_module_is_refused_with_a_state_dict_hint(module: nn.Module) -> None:
    with pytest.raises(WeightsError, match=r"whole pickled model .*torch\.save\(model\)") as err:
        load_weights_file(_torch_bytes(module))
    assert "torch.save(model.state_dict()" in str(err.value)


def _damaged_files() -> dict[str, tuple[bytes, str]]:
    pt = _torch_bytes(_state())
    st = save_safetensors(_state())
    header_len = int.from_bytes(st[:8], "little")
    return {  # name: (bytes, a fragment the message must contain)
        "empty": (b"", "empty"),
        "pt-half": (pt[: len(pt) // 2], "damaged or truncated"),
        "pt-head": (pt[:100], "damaged or truncated"),
        "random": (random.Random(0).randbytes(4096), "not a weights file"),
        "text": (b"these are not the weights you are looking for\n", "a text file"),
        "json": (b'{"weights": [1, 2, 3]}', "JSON/text file"),
        "png": (b"\x89PNG\r\n\x1a\n" + bytes(200), "not a weights file"),
        "st-data-cut": (st[:-7], "truncated"),
        "st-header-cut": (st[: 8 + header_len // 2], "truncated"),
        "st-huge-header": (struct.pack("<Q", 2**40) + st[8:], "header claims 1,099,511,627,776"),
        "st-garbage-header": (struct.pack("<Q", 9) + b"{garbage}", "header is damaged"),
        "st-header-ill-typed": (struct.pack("<Q", 8) + b'{"w": 5}', "header is damaged"),
    }


@pytest.mark.parametrize("name", list(_damaged_files()))
def test_damaged_or_foreign_files_are_refused_clearly(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, fragment = _damaged_files()[name]
    if name.startswith("st-"):  # caught by our own checks, before safetensors parses anything
        monkeypatch.setattr(
            weights_module,
            "load_safetensors",
            lambda *_: pytest.fail("the safetensors parser was reached"),
        )
    started = time.perf_counter()
    with pytest.raises(WeightsError) as err:
        load_weights_file(data)
    message = str(err.value)
    assert fragment in message, message
    assert re.search(r"expected a PyTorch state dict|again", message), message  # what to do
    assert time.perf_counter() - started < 2  # no huge allocation behind a lying header


def test_size_cap_is_checked_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.safetensors"
    path.write_bytes(save_safetensors({"w": torch.zeros(1000)}))
    with pytest.raises(WeightsError, match="more than the 0.0 MB limit"):
        load_weights_file(path.read_bytes(), max_bytes=1000)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read before the size check"))
    with pytest.raises(WeightsError, match="limit: use a smaller"):
        load_weights_file(path, max_bytes=1000)
    with pytest.raises(WeightsError, match="cannot read the weights file"):
        load_weights_file(tmp_path / "missing.pt")


def test_state_dict_formats_and_wrappers_load(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "w.safetensors"
    path.write_bytes(save_safetensors(state))
    run = create_run(RunConfig())
    run.save_checkpoint(
        {
            "model": state,
            "optimizer": {"state": {}, "param_groups": []},
            "epoch": 3,
            "history": [{"type": "epoch"}],
            "torch_rng": torch.get_rng_state(),
        }
    )
    sources = {
        "safetensors bytes": save_safetensors(state),
        "safetensors path": path,
        "pt": _torch_bytes(state),
        "legacy pt": _torch_bytes(state, legacy=True),
        "model wrapper": _torch_bytes({"model": state, "epoch": 3}),
        "state_dict wrapper": _torch_bytes({"state_dict": state, "lr": 0.1}),
        "model_state_dict wrapper": _torch_bytes(
            {"model_state_dict": state, "optimizer_state_dict": {}, "epoch": 2}
        ),
        "DataParallel prefix": _torch_bytes({f"module.{k}": v for k, v in state.items()}),
        "cnnlab checkpoint.pt": (run.path / "checkpoint.pt"),
    }
    for name, source in sources.items():
        loaded = load_weights_file(source)
        assert _equal(loaded, state), name


@pytest.mark.parametrize(
    "obj, fragment",
    [
        (torch.zeros(3, 4), "single tensor of shape (3, 4)"),
        ([torch.zeros(2)], "holds a list, not a state dict"),
        ({"a": {"b": torch.zeros(2)}}, "'a' is not a tensor (its type is dict)"),
        ({"w": torch.zeros(2), "epoch": 3}, "'epoch' is not a tensor (its type is int)"),
        ({}, "holds no tensors"),
    ],
    ids=["tensor", "list", "nested", "non-tensor value", "empty"],
)
def test_not_a_flat_state_dict_is_refused(obj: Any, fragment: str) -> None:
    with pytest.raises(WeightsError, match="expected a PyTorch state dict") as err:
        load_weights_file(_torch_bytes(obj))
    assert fragment in str(err.value)


def _cuda_tagged(obj: Any, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """`obj` saved as a CUDA machine saves it: every storage tagged with location "cuda:0".

    torch.save records each storage's device through `torch.serialization.location_tag`; on a
    GPU it returns "cuda:0". Patching it gives byte-for-byte the file a GPU run would write,
    without needing a GPU (the tensor data is the same; only the recorded location differs).
    """
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        return _torch_bytes(obj)


def test_cuda_saved_weights_load_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    run, net = _digits_run()
    state = net.state_dict()
    data = _cuda_tagged(state, monkeypatch)
    if not torch.cuda.is_available():  # control: the file really asks for CUDA
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(data), weights_only=True)
    loaded = load_weights_file(data)
    assert _equal(loaded, state) and {v.device.type for v in loaded.values()} == {"cpu"}
    assert load_into_run(run.run_id, data).model.norm.mean.device.type == "cpu"
    # The run's own resume checkpoint, written on a GPU machine and resumed on a CPU one.
    (run.path / "checkpoint.pt").write_bytes(
        _cuda_tagged({"model": state, "epoch": 1}, monkeypatch)
    )
    assert _equal(run.load_checkpoint()["model"], state)


def test_every_load_path_is_weights_only_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real_load, real_load_file = torch.load, runs_module.load_file

    def spy_load(*args: Any, **kwargs: Any) -> Any:
        calls.append({"fn": "torch.load", **kwargs})
        return real_load(*args, **kwargs)

    def spy_load_file(*args: Any, **kwargs: Any) -> Any:
        calls.append({"fn": "load_file", **kwargs})
        return real_load_file(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy_load)
    monkeypatch.setattr(runs_module, "load_file", spy_load_file)
    run, net = _digits_run()
    run.save_checkpoint({"model": net.state_dict(), "epoch": 1})
    run.load_checkpoint()
    load_weights_file(_torch_bytes(net.state_dict()))
    load_into_run(run.run_id, (run.path / "checkpoint.pt"))
    load_model(run.run_id)
    assert [c["fn"] for c in calls] == ["torch.load"] * 3 + ["load_file"]
    for call in calls:
        if call["fn"] == "torch.load":
            assert call["weights_only"] is True and call["map_location"] == "cpu", call
        else:
            assert call["device"] == "cpu", call


def _calls(source: str, name: str) -> list[str]:
    """The full text of each call `name(...)` in `source` (balanced parentheses)."""
    found = []
    for match in re.finditer(re.escape(name) + r"\(", source):
        depth, i = 0, match.end() - 1
        for i in range(match.end() - 1, len(source)):
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            if depth == 0:
                break
        found.append(source[match.start() : i + 1])
    return found


def test_every_torch_load_in_the_backend_is_weights_only() -> None:
    loads = {f.name: _calls(f.read_text(), "torch.load") for f in CNNLAB.rglob("*.py")}
    assert loads["store.py"] and loads["weights.py"]
    for name, calls in loads.items():
        for call in calls:
            assert "weights_only=True" in call, f"{name}: {call}"
            if name in ("store.py", "weights.py", "models.py"):  # model weights: any device saved
                assert 'map_location="cpu"' in call, f"{name}: {call}"


# ---- user weights into a run -------------------------------------------------------------------


def test_load_into_run_with_matching_weights(tmp_path: Path) -> None:
    run, _ = _digits_run()
    before = (run.path / "weights.safetensors").read_bytes()
    torch.manual_seed(1)
    other = build_model(ModelConfig(), DIGITS, 10)  # same architecture, different weights
    path = tmp_path / "mine.safetensors"
    path.write_bytes(save_safetensors(other.state_dict()))
    loaded = load_into_run(run.run_id, path)
    assert not loaded.model.training and loaded.class_names == [str(i) for i in range(10)]
    assert _equal(loaded.model.state_dict(), other.state_dict())
    assert loaded.meta["weights_source"] == "mine.safetensors"
    assert loaded.model(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert load_into_run(run.run_id, _torch_bytes(other.state_dict())).preprocess == DIGITS
    assert (
        run.path / "weights.safetensors"
    ).read_bytes() == before  # the run's own weights are untouched


def test_load_into_run_accepts_weights_of_the_bare_network() -> None:
    run, net = _digits_run()
    loaded = load_into_run(run.run_id, save_safetensors(net.net.state_dict()))
    assert _equal(loaded.model.state_dict(), net.state_dict())


def test_load_into_run_names_a_class_count_mismatch() -> None:
    run, _ = _digits_run(num_classes=10)
    five = build_model(ModelConfig(), DIGITS, 5)
    with pytest.raises(WeightsError, match="another architecture or class count") as err:
        load_into_run(run.run_id, save_safetensors(five.state_dict()))
    message = str(err.value)
    assert "shape mismatch" in message and "file (5," in message and "model (10," in message
    assert "10 classes" in message
    assert load_model(run.run_id).model is not None  # the run itself is unharmed


def test_load_into_run_names_another_architecture() -> None:
    run, _ = _digits_run(model="classic")
    lenet = build_model(ModelConfig(name="lenet5"), DIGITS, 10)
    with pytest.raises(WeightsError, match="another architecture") as err:
        load_into_run(run.run_id, _torch_bytes(lenet.state_dict()))
    assert re.search(r"missing tensors|unexpected tensors|shape mismatch", str(err.value))


def test_load_into_run_refuses_nan_weights() -> None:
    run, net = _digits_run()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    first = next(k for k, v in state.items() if v.is_floating_point() and k.startswith("net."))
    state[first][...] = float("nan")
    with pytest.raises(WeightsError, match="NaN.*lower learning rate"):
        load_into_run(run.run_id, save_safetensors(state))


def test_load_into_run_needs_a_trained_run() -> None:
    fresh = create_run(default_run_config("digits"))  # queued: no meta yet
    with pytest.raises(WeightsError, match="has not started training"):
        load_into_run(fresh.run_id, save_safetensors(_state()))
    with pytest.raises(RunNotFound):
        load_into_run("../" + fresh.run_id, save_safetensors(_state()))


# ---- training faults (the runner, in this process) ---------------------------------------------


def test_divergence_marks_the_run_diverged_with_finite_weights(run_here: Callable) -> None:
    run, status = run_here(_cfg(optimizer="sgd", lr=1e6, schedule="constant", batch_size=16))
    assert status == "diverged" == run.status().status
    assert "lower the learning rate" in run.status().message.lower()
    weights = run.load_weights()
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    load_model(run.run_id)  # the kept weights are usable


def test_batch_larger_than_the_dataset_trains(run_here: Callable) -> None:
    run, status = run_here(_cfg(epochs=2, batch_size=100_000))
    assert status == "finished"
    start = next(e for e in run.read_events()[0] if isinstance(e, StartEvent))
    assert start.batch_size == start.train_size and start.steps_per_epoch == 1
    assert run.metrics()["epochs_done"] == 2


def test_zero_epochs_finishes_with_initial_weights(run_here: Callable) -> None:
    run, status = run_here(_cfg(epochs=0))
    assert status == "finished"
    assert run.metrics()["epochs_done"] == 0 and run.metrics()["best_epoch"] == 0
    kinds = [kind_of(e) for e in run.read_events()[0]]
    assert kinds == ["start", "end"]
    load_model(run.run_id)  # untrained but valid weights


@pytest.mark.parametrize(
    "epochs, steps_per_epoch", [(1, 1), (1, 3), (1, 4), (2, 2), (4, 1), (1, 5)]
)
def test_one_cycle_schedule_with_very_few_steps_trains(epochs: int, steps_per_epoch: int) -> None:
    # OneCycleLR used to divide 0/0 at exactly 4 steps in all (200 images, batch 64, 1 epoch),
    # and the lr reported after the last step was extrapolated below zero.
    g = torch.Generator().manual_seed(0)
    n = 4 * steps_per_epoch
    split = SimpleNamespace(
        x=torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8), y=torch.arange(n) % 2
    )
    dataset = SimpleNamespace(train=split, val=split, test=split, hflip_ok=False)
    cfg = RunConfig(
        train=TrainConfig(
            schedule="onecycle",
            epochs=epochs,
            batch_size=4,
            threads=1,
            batch_events_per_s=0,
            device="cpu",
        )
    )
    events: list[Any] = []
    result = train(cfg, dataset, nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), emit=events.append)
    assert result.status == "finished" and result.epochs_done == epochs
    lrs = [e.lr for e in events if e.kind == "batch"]
    assert len(lrs) == epochs * steps_per_epoch and all(0 < lr <= cfg.train.lr for lr in lrs)


@pytest.mark.parametrize("error", ["runtime-oom-mid-epoch", "memory-error"])
def test_out_of_memory_fails_the_run_not_the_server(
    error: str, run_here: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:  # memory runs out during this run only
        if error == "memory-error":

            def no_memory(*args: Any, **kwargs: Any) -> None:
                raise MemoryError

            m.setattr(training_module, "train", no_memory)
        else:
            forward, calls = Classifier.forward, {"n": 0}

            def failing_forward(self: Classifier, x: torch.Tensor) -> torch.Tensor:
                calls["n"] += self.training  # not the snapshots' eval passes
                if self.training and calls["n"] > 4:  # a few batches in: events already written
                    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
                return forward(self, x)

            m.setattr(Classifier, "forward", failing_forward)
        run, status = run_here(_cfg(batch_size=16, batch_events_per_s=0))
    assert status == "failed" == run.status().status
    message = run.status().message
    assert "out of memory" in message and "lower the batch size" in message
    assert "Traceback" in run.error_text()
    if error != "memory-error":
        assert any(isinstance(e, BatchEvent) for e in run.read_events()[0])  # progress so far kept
    after, status = run_here(_cfg())  # the same process (the server) trains the next run
    assert status == "finished"


def test_disk_full_while_saving_weights_keeps_the_previous_weights(
    run_here: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = create_run(_cfg())
    previous = {"w": torch.arange(4.0)}
    run.save_weights(previous)
    monkeypatch.setattr(runs_module, "save_file", _disk_full)
    assert execute_run(run) == "failed"
    status = run.status()
    assert status.status == "failed" and "disk" in status.message.lower()
    assert "free" in status.message  # what to do
    assert _equal(run.load_weights(), previous)
    assert not list(run.path.glob(".*.tmp")) and not list(run.path.glob(".weights.*"))
    assert run.read_events()[0]  # the training history is kept


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(
    run_here: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = Run.save_checkpoint, {"n": 0}

    def second_fails(self: Run, checkpoint: dict[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] >= 2:
            _disk_full()
        real(self, checkpoint)

    monkeypatch.setattr(Run, "save_checkpoint", second_fails)
    run, status = run_here(_cfg(epochs=3))
    assert status == "failed" and "disk" in run.status().message.lower()
    assert run.load_checkpoint()["epoch"] == 1  # resumable from the last good checkpoint
    assert not list(run.path.glob(".*.tmp"))


def test_disk_full_everywhere_never_raises(
    run_here: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = {"on": False}
    real_atomic, real_write_text = runs_module.atomic_write_bytes, Path.write_text

    def save_file(*args: Any, **kwargs: Any) -> None:
        full["on"] = True  # from here on every write fails
        _disk_full()

    def atomic(path: Path, data: bytes) -> None:
        if full["on"]:
            _disk_full()
        real_atomic(path, data)

    def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        if full["on"]:
            _disk_full()
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(runs_module, "save_file", save_file)
    monkeypatch.setattr(runs_module, "atomic_write_bytes", atomic)
    monkeypatch.setattr(jsonio_module, "atomic_write_bytes", atomic)  # status, meta, metrics
    monkeypatch.setattr(Path, "write_text", write_text)
    run, status = run_here(_cfg())
    assert status == "failed"  # returned, not raised: the job manager records the rest


# ---- jobs: kill and restart (real child processes) ---------------------------------------------


def _wait_for(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for a job state")


def _status(run_id: str) -> str:
    return get_run(run_id).status().status


def test_killed_job_can_be_resumed_from_its_checkpoint() -> None:
    manager = JobManager(max_parallel=1, warm=False)
    try:
        run_id = manager.submit(_cfg(epochs=40, limit=0, batch_size=8))
        run = get_run(run_id)
        _wait_for(lambda: (run.path / "checkpoint.pt").is_file() and _status(run_id) == "running")
        os.kill(run.status().pid, signal.SIGKILL)  # as the kernel's OOM killer would
        _wait_for(lambda: _status(run_id) == "failed", timeout=30)
        message = run.status().message
        assert "perhaps out of memory" in message and "resumed" in message
        events_before = len(run.read_events()[0])
        assert events_before > 0  # metrics so far kept
        epoch = run.load_checkpoint()["epoch"]
        manager.resume(run_id)
        _wait_for(
            lambda: any(
                isinstance(e, StartEvent) and e.resumed_epoch == epoch for e in run.read_events()[0]
            )
        )
        manager.stop(run_id)
        _wait_for(lambda: _status(run_id) == "stopped", timeout=30)
        assert len(run.read_events()[0]) > events_before  # history continued, not replaced
    finally:
        manager.close()


def test_restart_with_a_reused_pid_marks_the_run_interrupted() -> None:
    # After a reboot the dead job's pid may belong to any process: here a `sleep` of ours.
    other = subprocess.Popen(["sleep", "60"])
    try:
        run = create_run(_cfg())
        run.update_status("running", pid=other.pid, started=time.time())
        manager = JobManager(max_parallel=1, warm=False)
        try:
            assert run.status().status == "interrupted"
            assert "resume" in run.status().message
            assert manager.running() == []  # the slot is free for the next run
        finally:
            manager.close()
        assert other.poll() is None  # and the unrelated process was not signalled on close
    finally:
        other.kill()
        other.wait()


# ---- paths -------------------------------------------------------------------------------------


def _outside_run(tmp_path: Path) -> Path:
    """A folder outside the runs folder that looks like a run (config.json, status)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    (outside / "status.json").write_text('{"status": "running", "pid": 1}')
    (outside / "precious.txt").write_text("keep me")
    return outside


def test_symlinked_run_folder_is_refused_everywhere(tmp_path: Path) -> None:
    outside = _outside_run(tmp_path)
    root = resolve_runs_dir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    good = create_run(RunConfig())
    for action in (get_run, delete_run, export_run_zip):
        with pytest.raises(RunNotFound):
            action("linked")
    assert (outside / "precious.txt").read_text() == "keep me"
    assert [i.run_id for i in list_runs()] == [good.run_id]  # listed runs are the loadable ones
    JobManager(max_parallel=1, warm=False).close()  # recovery does not trip over it
    assert (outside / "status.json").read_text() == '{"status": "running", "pid": 1}'


@pytest.mark.parametrize(
    "crafted",
    [
        "../outside",
        "{outside}",
        "linked/..",
        "./../outside",
        "outside/../../outside",
        "%2e%2e%2foutside",
    ],
)
def test_delete_run_with_crafted_ids_deletes_nothing_outside(tmp_path: Path, crafted: str) -> None:
    outside = _outside_run(tmp_path)
    (outside / "status.json").write_text('{"status": "finished"}')
    create_run(RunConfig())
    with pytest.raises(RunNotFound):
        delete_run(crafted.format(outside=outside))
    assert (outside / "precious.txt").is_file() and len(list_runs()) == 1


def test_delete_run_does_not_follow_symlinks_inside(tmp_path: Path) -> None:
    outside = _outside_run(tmp_path)
    run = create_run(RunConfig())
    run.update_status("finished")
    (run.path / "data").symlink_to(outside, target_is_directory=True)
    (run.path / "notes.txt").symlink_to(outside / "precious.txt")
    delete_run(run.run_id)
    assert not run.path.exists()
    assert (outside / "precious.txt").read_text() == "keep me"


def test_export_zip_leaves_out_symlinks(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    run = create_run(RunConfig())
    (run.path / "weights.safetensors").symlink_to("/etc/passwd")
    (run.path / "events.jsonl").symlink_to(secret)
    (run.path / "metrics.json").symlink_to(secret)
    with zipfile.ZipFile(io.BytesIO(export_run_zip(run.run_id))) as zf:
        names = zf.namelist()
        content = b"".join(zf.read(n) for n in names)
    assert f"{run.run_id}/config.json" in names and f"{run.run_id}/status.json" in names
    assert not any(
        n.endswith(("weights.safetensors", "events.jsonl", "metrics.json")) for n in names
    )
    assert b"TOP-SECRET" not in content and b"root:" not in content


# ---- damaged run folders -----------------------------------------------------------------------

DAMAGE = {  # name: (file, content or None = delete, status expected in the list)
    "config garbage": ("config.json", "{not json", "failed"),
    "config not an object": ("config.json", "[1, 2]", "failed"),
    "config bad spec": ("config.json", '{"model": {"spec": 5}}', "failed"),
    "status missing": ("status.json", None, "failed"),
    "status garbage": ("status.json", "\x00\x01garbage", "failed"),
    "status not an object": ("status.json", '["finished"]', "failed"),
    "status bad types": (
        "status.json",
        '{"status": "finished", "created": "soon", "started": "x", "ended": []}',
        "failed",
    ),
    "meta not an object": ("meta.json", "[]", "finished"),
    "metrics garbage": ("metrics.json", "{", "finished"),
    "metrics not an object": ("metrics.json", '"good"', "finished"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_list_runs_survives_a_damaged_run_folder(damage: str) -> None:
    good = create_run(RunConfig())
    broken = create_run(RunConfig())
    broken.update_status("finished", started=time.time() - 5, ended=time.time())
    broken.write_meta({"class_names": ["a"], "dataset_title": "T"})
    file, content, expected = DAMAGE[damage]
    if content is None:
        (broken.path / file).unlink()
    else:
        (broken.path / file).write_text(content)
    infos = {i.run_id: i for i in list_runs()}
    assert set(infos) == {good.run_id, broken.run_id}
    assert infos[good.run_id].status == "queued"
    assert infos[broken.run_id].status == expected
    if expected == "failed":
        assert infos[broken.run_id].message  # says what is damaged
    JobManager(max_parallel=1, warm=False).close()  # recovery on server start copes too


def test_events_with_garbage_lines_are_skipped() -> None:
    run = create_run(RunConfig())
    run.append_events([StartEvent(epochs=1)])
    with open(run.path / "events.jsonl", "ab") as f:
        f.write(b'garbage\n\xff\xfe\x00binary\n5\n[1, 2]\n"text"\nnull\n\n')
        f.write(b'{"type": "batch", "st')  # a job killed mid-write left a torn line ...
    run.append_events([StartEvent(resumed_epoch=1)])  # ... the resumed job's is kept
    run.append_events([EpochEvent(epoch=1)])
    events, _ = run.read_events()
    assert events == [StartEvent(epochs=1), StartEvent(resumed_epoch=1), EpochEvent(epoch=1)]
