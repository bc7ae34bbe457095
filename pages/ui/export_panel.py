"""The Runs page's Export section (ONNX and the standalone training script of one run) and
Import (a run zip uploaded back in as a new run).

The backend does the work (`cnnlab.export`, `cnnlab.runs.import_run_zip`); the ONNX file is
made only on request (a few seconds: export + the onnxruntime check), cached per run and weights
version, and offered only once the check passed. Session state keeps only which runs were
prepared.
"""

from __future__ import annotations

import streamlit as st

from cnnlab.export import ModelCodeError, ScriptDataError, training_script
from cnnlab.export.onnx_export import (
    INSTALL_HINT,
    MAX_DIFF,
    OnnxCheckFailed,
    OnnxExport,
    export_onnx,
    missing_packages,
)
from cnnlab.runs import ACTIVE, RunImportError, RunInfo, get_run, import_run_zip
from cnnlab.runs.archive import MAX_ZIP_BYTES
from cnnlab.text import md_escape
from pages.ui.common import MAX_UPLOAD_MB, job_manager, upload_too_large
from pages.ui.identity import current_identity, run_owner

IMPORT_MB = min(MAX_UPLOAD_MB, MAX_ZIP_BYTES // 2**20)  # the browser refuses larger files


@st.cache_data(max_entries=8, show_spinner=False)
def _script(run_id: str, runs_dir: str, weights_version: float) -> tuple[str, str]:
    """(script text, "") or ("", why not) for a run's weights version."""
    try:
        return training_script(run_id, runs_dir).text, ""
    except (ScriptDataError, ModelCodeError) as exc:
        return "", str(exc)


@st.cache_data(max_entries=4, show_spinner=False)
def _onnx(run_id: str, runs_dir: str, weights_version: float) -> OnnxExport:
    return export_onnx(run_id, runs_dir)


def _onnx_part(info: RunInfo, runs_dir: str, version: float) -> None:
    key = (info.run_id, version)
    prepared = st.session_state.setdefault("export_onnx_ready", [])
    if missing_packages():
        st.info(
            f"ONNX export needs the optional `export` packages: `{INSTALL_HINT}`",
            icon=":material/extension:",
        )
        return
    if key not in prepared:
        slot = st.empty()  # the button, gone once the file is ready
        if not slot.button(
            "Prepare ONNX",
            icon=":material/deployed_code:",
            key="export_onnx_make",
            help="export the model and check it with onnxruntime on the run's test images "
            "(a few seconds)",
        ):
            return
        try:
            with st.spinner("Exporting and checking with onnxruntime..."):
                _onnx(info.run_id, runs_dir, version)
        except (OnnxCheckFailed, ValueError) as exc:
            st.error(md_escape(exc), icon=":material/error:")
            return
        prepared.append(key)
        slot.empty()
    exported = _onnx(info.run_id, runs_dir, version)
    c, h, w = exported.input_shape
    st.download_button(
        "Download ONNX",
        data=exported.data,
        file_name=f"cnnlab-{info.run_id}.onnx",
        mime="application/octet-stream",
        icon=":material/download:",
        key="export_onnx_download",
    )
    st.caption(
        f"Input `images`: float32 [batch, {c}, {h}, {w}] in [0, 1], NCHW (normalised inside); "
        f"output `logits`. onnxruntime agrees with PyTorch within {exported.max_diff:.1e} "
        f"(limit {MAX_DIFF:g}) on {exported.checked} {exported.checked_on}. Class names are in "
        "the file's metadata."
    )


def export_panel(info: RunInfo) -> None:
    """Downloads of one run: the ONNX model (checked) and its standalone training script."""
    run = get_run(info.run_id)
    st.subheader("Export")
    if not run.has_weights() or info.status in ACTIVE:
        st.caption("Export needs a run that has finished training (it has no saved weights yet).")
        return
    runs_dir, version = str(job_manager().runs_dir), run.weights_version()
    left, right = st.columns(2)
    with left:
        st.markdown("**ONNX model** for onnxruntime, OpenCV, phones")
        _onnx_part(info, runs_dir, version)
    with right:
        st.markdown("**Training script**: plain PyTorch + torchvision, no cnnlab")
        text, why = _script(info.run_id, runs_dir, version)
        if not text:
            st.caption(f":material/block: {md_escape(why)}")
            return
        st.download_button(
            "Download training script",
            data=text,
            file_name=f"train_{info.run_id}.py",
            mime="text/x-python",
            icon=":material/code:",
            key="export_script_download",
        )
        st.caption(
            "Retrains this run's configuration: the same network, data splits, "
            "augmentation, optimiser and schedule; prints the test accuracy."
        )


def import_panel() -> None:
    """Upload a run zip (the Download weights + config button's file) as a new run."""
    st.subheader("Import a run")
    done = st.session_state.pop("import_done", None)
    if done:
        st.success(f"Imported {md_escape(done[0])} as run **{done[1]}**.", icon=":material/check:")
    if current_identity() is None:
        st.caption("Join the class first to import a run.")
        return
    upload = st.file_uploader(
        "A run zip downloaded from a cnnlab Runs page",
        type=["zip"],
        key=f"import_zip_{st.session_state.get('import_count', 0)}",  # new key: emptied
        max_upload_size=IMPORT_MB,
        help="checked like any untrusted file: only the run's files, weights as safetensors "
        "(no code), size limits; the config must rebuild the network the weights fit",
    )
    if upload is None or upload_too_large(upload.size, IMPORT_MB):
        return
    if not st.button("Import as a new run", icon=":material/upload:", key="import_zip_go"):
        return
    try:
        new_id = import_run_zip(
            upload.getvalue(), job_manager().runs_dir, source=upload.name, owner=run_owner()
        )
    except RunImportError as exc:
        st.error(md_escape(exc), icon=":material/error:")
        return
    st.session_state.run_id = new_id  # the page picks it after the rerun
    st.session_state.pop("runs_pick", None)
    st.session_state.import_done = (upload.name, new_id)
    st.session_state.import_count = st.session_state.get("import_count", 0) + 1
    st.rerun()
