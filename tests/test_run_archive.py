"""A downloaded run zip imports back as a new run; hostile or tampered zips are refused clearly."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_safetensors

from cnnlab.cli import EXIT_FAILED, EXIT_OK, main
from cnnlab.config import ModelConfig, Preprocess
from cnnlab.events import EpochEvent, StartEvent
from cnnlab.models import build_model
from cnnlab.recipes import default_run_config
from cnnlab.runs import (
    Run,
    RunImportError,
    Status,
    create_run,
    export_run_zip,
    get_run,
    import_run_zip,
    list_runs,
    load_model,
    run_history,
)

DIGITS = Preprocess(input_shape=(1, 8, 8), mean=(0.3,), std=(0.4,), light_background=False)


def _trained_run() -> Run:
    """A run as if it had trained on digits (config, meta, weights, events, status, metrics)."""
    cfg = default_run_config("digits")
    run = create_run(dataclasses.replace(cfg, model=ModelConfig(name="classic")))
    torch.manual_seed(0)
    net = build_model(ModelConfig(name="classic"), DIGITS, 10)
    names = [str(i) for i in range(10)]
    run.write_meta({"class_names": names, "preprocess": dataclasses.asdict(DIGITS)})
    run.save_weights(net.state_dict())
    run.append_events([StartEvent(epochs=2), EpochEvent(epoch=1), EpochEvent(epoch=2)])
    run.write_metrics({"test_acc": 0.9})
    run.update_status(Status.FINISHED, best_val_acc=0.91, started=1.0, ended=2.0)
    return run


def _zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_export_import_round_trip_predicts_the_same() -> None:
    run = _trained_run()
    new_id = import_run_zip(export_run_zip(run.run_id), source="run.zip")
    assert new_id != run.run_id
    original, imported = load_model(run.run_id), load_model(new_id)
    x = torch.rand(5, 1, 8, 8)
    with torch.inference_mode():
        assert torch.equal(original.model(x), imported.model(x))
    assert imported.class_names == original.class_names
    assert imported.config == original.config
    info = next(i for i in list_runs() if i.run_id == new_id)
    assert info.status == Status.FINISHED and info.test_acc == 0.9 and info.has_weights
    assert "imported from run.zip" in info.message
    assert run_history(new_id).epochs_done == 2


def test_tampered_weights_are_refused_with_the_mismatch_named() -> None:
    run = _trained_run()
    members = _members(export_run_zip(run.run_id))
    weights = f"{run.run_id}/weights.safetensors"
    state = {k: v for k, v in run.load_weights().items()}
    key = next(k for k in state if k.endswith("weight") and state[k].ndim == 2)
    state[key] = torch.zeros(3, state[key].shape[1])  # another class count
    members[weights] = save_safetensors(state)
    before = {r.run_id for r in list_runs()}
    with pytest.raises(RunImportError, match="shape mismatch"):
        import_run_zip(_zip(members))
    assert {r.run_id for r in list_runs()} == before  # nothing kept


@pytest.mark.parametrize(
    "change,message",
    [
        ({"x/../../evil.json": b"{}"}, "unsafe"),
        ({"/abs/config.json": b"{}"}, "unsafe"),
        ({"x/notes.txt": b"hi"}, "unexpected file"),
        ({"x/sub/config.json": b"{}"}, "nested"),
        ({"x/config.json": b"{not json"}, "not valid JSON"),
        ({"x/config.json": b'{"model": {"spec": 5}}'}, "config is not valid"),
        ({"x/meta.json": b'{"class_names": []}'}, "no classes"),
        ({"x/weights.safetensors": b"PK\x03\x04garbage"}, "weights cannot be read"),
    ],
)
def test_hostile_zips_are_refused(change: dict[str, bytes], message: str) -> None:
    run = _trained_run()
    members = {
        name.replace(f"{run.run_id}/", "x/"): data
        for name, data in _members(export_run_zip(run.run_id)).items()
    }
    members.update(change)
    with pytest.raises(RunImportError, match=message):
        import_run_zip(_zip(members))
    assert len(list_runs()) == 1


def test_missing_files_links_and_non_zips_are_refused() -> None:
    run = _trained_run()
    members = _members(export_run_zip(run.run_id))
    without = {k: v for k, v in members.items() if not k.endswith("weights.safetensors")}
    with pytest.raises(RunImportError, match="no weights"):
        import_run_zip(_zip(without))
    with pytest.raises(RunImportError, match="link"):
        import_run_zip(_zip(without, symlink=f"{run.run_id}/weights.safetensors"))
    with pytest.raises(RunImportError, match="not a zip"):
        import_run_zip(b"hello")


def test_an_active_run_imports_as_stopped() -> None:
    run = _trained_run()
    run.update_status(Status.RUNNING, pid=12345)
    new = get_run(import_run_zip(export_run_zip(run.run_id)))
    assert new.status().status == Status.STOPPED and new.status().pid is None


def test_cli_import_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _trained_run()
    path = tmp_path / "run.zip"
    path.write_bytes(export_run_zip(run.run_id))
    assert main(["import-run", str(path)]) == EXIT_OK
    assert "imported run.zip as run" in capsys.readouterr().out
    assert len(list_runs()) == 2
    bad = tmp_path / "bad.zip"
    bad.write_bytes(json.dumps({"not": "a zip"}).encode())
    assert main(["import-run", str(bad)]) == EXIT_FAILED
    assert "not a zip" in capsys.readouterr().err
