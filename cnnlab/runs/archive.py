"""A run as a zip: exported for download, and imported back as a new run (untrusted input).

`import_run_zip` treats the zip as hostile: the archive and each member are size-capped before
anything is read (a member's declared size may lie, so reads are capped too); only the known run
files are accepted, at the top level or inside one folder; absolute paths, `..`, backslashes,
links and encrypted members are refused; the config must rebuild a RunConfig, the metadata must
name classes and preprocessing, and the weights must fit the rebuilt architecture exactly (the
mismatch is named). Events are re-encoded (unknown kinds dropped). Nothing is written unless all
of it holds; the new run gets a new id.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from cnnlab.config import Preprocess, run_config_from_dict, to_dict
from cnnlab.events import encode, parse_lines
from cnnlab.jsonio import dumps
from cnnlab.runs.access import RunOwner
from cnnlab.runs.loading import WeightsError, build_run_model, load_state
from cnnlab.runs.status import ACTIVE, RunStatus, Status
from cnnlab.runs.store import (
    ARCHIVE_FILES,
    CONFIG_FILE,
    EVENTS_FILE,
    META_FILE,
    METRICS_FILE,
    REQUIRED_IMPORT_FILES,
    STATUS_FILE,
    WEIGHTS_FILE,
    create_imported_run,
    get_run,
)
from cnnlab.runs.weights import MAX_WEIGHTS_BYTES, load_weights_file

MAX_ZIP_BYTES = MAX_WEIGHTS_BYTES + 80 * 2**20  # the whole upload
MAX_JSON_BYTES = 2 * 2**20  # config, meta, metrics, status
MAX_EVENTS_BYTES = 64 * 2**20  # a long run's events file is a few MB
MAX_CLASSES = 10_000


class RunImportError(ValueError):
    """A run zip that cannot be imported; the message says what is wrong and what to do."""


def export_run_zip(run_id: str, runs_dir: str | Path | None = None) -> bytes:
    """Weights + config + meta + metrics + status + events of one run as a zip (for download);
    members are `<run_id>/<file>`."""
    run = get_run(run_id, runs_dir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in run.archive_members():
            zf.write(path, f"{run_id}/{name}")
    return buffer.getvalue()


def _cap(name: str) -> int:
    if name == WEIGHTS_FILE:
        return MAX_WEIGHTS_BYTES
    return MAX_EVENTS_BYTES if name == EVENTS_FILE else MAX_JSON_BYTES


def _member_name(info: zipfile.ZipInfo) -> str | None:
    """The run file a member holds (None for a folder entry); RunImportError when unsafe."""
    raw = info.filename
    if "\\" in raw or raw.startswith("/") or ":" in raw.split("/")[0]:
        raise RunImportError(f"unsafe path {raw!r} in the zip: not a run downloaded from cnnlab")
    parts = PurePosixPath(raw).parts
    if ".." in parts or len(parts) > 2:
        raise RunImportError(f"unsafe or nested path {raw!r} in the zip: not a cnnlab run zip")
    if info.is_dir():
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        raise RunImportError(f"{raw!r} in the zip is a link: links are not accepted")
    if info.flag_bits & 0x1:
        raise RunImportError(f"{raw!r} in the zip is encrypted: export the run again")
    if parts[-1] not in ARCHIVE_FILES:
        raise RunImportError(
            f"unexpected file {raw!r} in the zip; a run zip holds only {', '.join(ARCHIVE_FILES)}"
        )
    return parts[-1]


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """One member's bytes, size-capped before and while reading (the declared size may lie)."""
    if info.file_size > _cap(name):
        raise RunImportError(f"{name} in the zip is too large ({info.file_size:,} bytes)")
    try:
        with zf.open(info) as f:
            content = f.read(_cap(name) + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise RunImportError(f"{name} in the zip is damaged ({exc})") from exc
    if len(content) > _cap(name):
        raise RunImportError(f"{name} in the zip is too large")
    return content


def _read_members(data: bytes) -> dict[str, bytes]:
    """The run files in the zip (name -> bytes), every check but the content ones done."""
    if len(data) > MAX_ZIP_BYTES:
        raise RunImportError(
            f"the zip is {len(data) / 2**20:.0f} MB, more than the "
            f"{MAX_ZIP_BYTES / 2**20:.0f} MB limit"
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise RunImportError(
            f"not a zip file ({exc}): choose a run zip from the Runs page"
        ) from exc
    files: dict[str, bytes] = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > 4 * len(ARCHIVE_FILES):
            raise RunImportError(f"the zip has {len(infos)} entries: not a cnnlab run zip")
        names = [_member_name(info) for info in infos]  # unsafe paths refused first
        folders = {PurePosixPath(i.filename).parts[0] for i in infos if "/" in i.filename}
        if len(folders) > 1:
            raise RunImportError("the zip holds several folders: import one run at a time")
        for info, name in zip(infos, names, strict=True):
            if name is None:
                continue
            if name in files:
                raise RunImportError(f"{name} appears twice in the zip")
            files[name] = _read_member(zf, info, name)
    missing = [n for n in REQUIRED_IMPORT_FILES if n not in files]
    if missing:
        raise RunImportError(
            f"the zip has no {', '.join(missing)}: download the run again (a run that has "
            "finished training holds all of them)"
        )
    return files


def _json_object(files: dict[str, bytes], name: str) -> dict[str, Any]:
    try:
        value = json.loads(files[name])
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunImportError(f"{name} in the zip is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise RunImportError(f"{name} in the zip is not a JSON object")
    return value


def _checked_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """Config, meta, metrics and events validated and re-encoded (weights are checked later)."""
    try:
        cfg = run_config_from_dict(_json_object(files, CONFIG_FILE))
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise RunImportError(f"the run's config is not valid ({exc})") from exc
    meta = _json_object(files, META_FILE)
    names = meta.get("class_names")
    if not isinstance(names, list) or not 1 <= len(names) <= MAX_CLASSES:
        raise RunImportError(f"the run's metadata lists no classes (or more than {MAX_CLASSES})")
    try:
        Preprocess.from_dict(meta["preprocess"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunImportError(f"the run's metadata has no valid preprocessing ({exc})") from exc
    meta["class_names"] = [str(n) for n in names]
    out = {CONFIG_FILE: dumps(to_dict(cfg), indent=1).encode(), META_FILE: dumps(meta).encode()}
    if METRICS_FILE in files:
        out[METRICS_FILE] = dumps(_json_object(files, METRICS_FILE)).encode()
    if EVENTS_FILE in files:
        out[EVENTS_FILE] = encode(parse_lines(files[EVENTS_FILE]))
    return out


def _imported_status(files: dict[str, bytes], source: str) -> RunStatus:
    old = RunStatus.from_dict(_json_object(files, STATUS_FILE)) if STATUS_FILE in files else None
    state = old.status if old and old.status not in ACTIVE else Status.STOPPED
    return RunStatus(
        status=state,
        message=f"imported from {source}",
        created=time.time(),
        started=old.started if old else None,
        ended=(old.ended if old else None) or time.time(),
        epochs=old.epochs if old else 0,
        total_steps=old.total_steps if old else 0,
        best_val_acc=old.best_val_acc if old else None,
        test_acc=old.test_acc if old else None,
    )


def import_run_zip(
    data: bytes,
    runs_dir: str | Path | None = None,
    *,
    source: str = "a run zip",
    owner: RunOwner | None = None,
) -> str:
    """Import a run zip (as `export_run_zip` makes it) as a new run owned by `owner` (who
    imports it; None = the lab's own); returns the new run id.
    Raises RunImportError (a ValueError) saying what is wrong; nothing is kept then."""
    files = _read_members(bytes(data))
    checked = _checked_files(files)
    try:
        state = load_weights_file(files[WEIGHTS_FILE], max_bytes=MAX_WEIGHTS_BYTES)
    except WeightsError as exc:
        raise RunImportError(f"the run's weights cannot be read: {exc}") from exc
    run = create_imported_run(checked, _imported_status(files, source), runs_dir, owner)
    try:
        model = build_run_model(run)[0]
        load_state(model, state, "the imported weights")  # names any mismatch
        run.save_weights(state)  # re-saved: only tensors, as safetensors
    except (WeightsError, ValueError, TypeError, KeyError) as exc:
        shutil.rmtree(run.path, ignore_errors=True)
        raise RunImportError(f"the run cannot be imported: {exc}") from exc
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run.run_id
