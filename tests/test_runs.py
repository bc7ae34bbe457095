"""Run folders: creation, listing, atomic files, events read while written, safe ids, weights."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
import torch

from cnnlab.config import DataConfig, RunConfig, TrainConfig
from cnnlab.events import BatchEvent
from cnnlab.runs import (
    RunNotFound,
    Status,
    WeightsError,
    create_run,
    delete_run,
    export_run_zip,
    get_run,
    latest_run,
    list_runs,
    load_state,
)


def test_create_list_get_delete(tmp_path: Path) -> None:
    cfg = RunConfig(data=DataConfig(name="digits"), train=TrainConfig(lr=0.05, epochs=7))
    run = create_run(cfg)
    assert run.config() == cfg  # config round-trips through JSON
    assert run.status().status == Status.QUEUED == "queued"
    other = create_run(RunConfig())
    infos = list_runs()
    assert [i.run_id for i in infos] == sorted([run.run_id, other.run_id], reverse=True) or {
        i.run_id for i in infos
    } == {run.run_id, other.run_id}
    info = next(i for i in infos if i.run_id == run.run_id)
    assert (info.dataset, info.lr, info.epochs) == ("digits", 0.05, 7)
    with pytest.raises(ValueError, match="stop it"):
        delete_run(run.run_id)  # queued runs are active
    run.update_status(Status.FINISHED)
    assert latest_run("finished") == run.run_id
    delete_run(run.run_id)
    assert [i.run_id for i in list_runs()] == [other.run_id]


@pytest.mark.parametrize("bad", ["../x", "/etc", "a/../../b", "..", "", "a\\..\\b", "x" * 200])
def test_unsafe_run_ids_are_refused(bad: str) -> None:
    with pytest.raises(RunNotFound):
        get_run(bad)


def test_events_are_read_incrementally_and_partial_lines_wait() -> None:
    run = create_run(RunConfig())
    run.append_events([BatchEvent(step=1, loss=float("nan"))])
    events, offset = run.read_events()
    assert events == [BatchEvent(step=1, loss=None)]  # NaN stored as null
    with open(run.path / "events.jsonl", "a") as f:
        f.write('{"type": "batch", "st')  # a writer mid-line
    more, offset2 = run.read_events(offset)
    assert more == [] and offset2 == offset
    with open(run.path / "events.jsonl", "a") as f:
        f.write('ep": 2}\n')
    more, _ = run.read_events(offset)
    assert more == [BatchEvent(step=2)]


def test_status_writes_are_atomic_and_json_safe() -> None:
    run = create_run(RunConfig())
    import numpy as np

    run.update_status(best_val_acc=np.float32(0.5), step=np.int64(3))
    data = json.loads((run.path / "status.json").read_text())
    assert data["best_val_acc"] == 0.5 and data["step"] == 3
    assert not list(run.path.glob("*.tmp"))


def test_weights_round_trip_and_failed_write_keeps_previous(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = create_run(RunConfig())
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2)}
    run.save_weights(state)
    assert torch.equal(run.load_weights()["w"], state["w"])

    import cnnlab.runs.store as runs_module

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs_module, "save_file", disk_full)
    with pytest.raises(OSError):
        run.save_weights({"w": torch.ones(2, 3), "b": torch.ones(2)})
    assert torch.equal(run.load_weights()["w"], state["w"])  # previous weights intact
    assert not list(run.path.glob(".weights.*"))


def test_checkpoint_never_unpickles_code(tmp_path: Path) -> None:
    run = create_run(RunConfig())

    class Evil:
        def __reduce__(self):  # noqa: ANN204 - the classic pickle exploit
            return (Path(tmp_path / "pwned").touch, ())

    torch.save({"x": Evil()}, (run.path / "checkpoint.pt"))
    with pytest.raises(Exception):  # noqa: B017 - any refusal is fine; running code is not
        run.load_checkpoint()
    assert not (tmp_path / "pwned").exists()


def test_load_state_names_the_mismatch() -> None:
    model = torch.nn.Linear(4, 3)
    with pytest.raises(WeightsError, match="another architecture or class count"):
        load_state(model, {"weight": torch.zeros(5, 4), "bias": torch.zeros(5)}, "file")
    with pytest.raises(WeightsError, match="NaN"):
        load_state(
            model, {"weight": torch.full((3, 4), float("nan")), "bias": torch.zeros(3)}, "file"
        )


def test_export_zip_contains_weights_and_config() -> None:
    run = create_run(RunConfig())
    run.save_weights({"w": torch.ones(1)})
    names = zipfile.ZipFile(BytesIO(export_run_zip(run.run_id))).namelist()
    assert f"{run.run_id}/weights.safetensors" in names and f"{run.run_id}/config.json" in names


def test_status_is_typed_and_written_through_one_function() -> None:
    run = create_run(RunConfig())
    assert run.update_status(Status.RUNNING, step=3).step == 3
    status = run.status()
    assert status.status is Status.RUNNING and status.active and status.step == 3
    with pytest.raises(TypeError, match="not RunStatus fields"):
        run.update_status(stpe=4)  # a typo never lands in the status file
    with pytest.raises(ValueError):
        run.update_status("runing")
    (run.path / "status.json").write_text("{garbage")
    assert run.status().status is Status.FAILED and "damaged" in run.status().message


def test_lifecycle_sets() -> None:
    from cnnlab.runs import ACTIVE, DELETABLE, FINISHED, RESUMABLE

    assert ACTIVE == {"queued", "running"} and not ACTIVE & DELETABLE
    assert RESUMABLE == {"interrupted", "failed", "stopped"}
    assert "finished" in FINISHED and "failed" not in FINISHED


def test_stop_requests_error_tail_and_weights_version() -> None:
    run = create_run(RunConfig())
    assert not run.stop_requested()
    run.request_stop()
    assert run.stop_requested()
    run.clear_stop()
    assert not run.stop_requested()
    assert run.error_text() == ""
    run.write_error("x" * 10_000 + "Traceback end")
    assert run.error_text().endswith("Traceback end") and len(run.error_text()) == 4000
    assert run.weights_version() == 0.0 and not run.has_weights()
    run.save_weights({"w": torch.ones(1)})
    assert run.weights_version() > 0 and run.has_weights()


def test_list_runs_filters_by_status_and_weights() -> None:
    done, queued = create_run(RunConfig()), create_run(RunConfig())
    done.update_status(Status.FINISHED)
    done.save_weights({"w": torch.ones(1)})
    ids = lambda runs: {r.run_id for r in runs}  # noqa: E731
    assert ids(list_runs(status=Status.FINISHED)) == {done.run_id}
    assert ids(list_runs(status={Status.QUEUED, Status.RUNNING})) == {queued.run_id}
    assert ids(list_runs(with_weights=True)) == {done.run_id}
