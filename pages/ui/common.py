"""What every page shares: session state (ids and selections only), cached resources, the sidebar.

Not a page itself (app.py routes only the files it names). Caching matches lifetime:
`st.cache_resource` for read-only shared things (datasets, loaded models, the job manager),
never mutated; `st.session_state` holds configs (small frozen dataclasses) and run ids.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import BinaryIO

import streamlit as st

from cnnlab.config import DataConfig, ModelConfig, ModelSpec, default_runs_dir
from cnnlab.data import DATASETS, DatasetUnavailable, ImageDataset, load_dataset
from cnnlab.data.images import MAX_FILE_BYTES
from cnnlab.data.uploads import MAX_UPLOAD_BYTES, UploadError, too_large_message
from cnnlab.data.uploads import save_upload as store_upload
from cnnlab.recipes import default_run_config
from cnnlab.runs import LoadedModel, get_run, load_model
from cnnlab.runs.jobs import JobManager
from cnnlab.text import md_escape
from pages.ui.charts import chart_config  # noqa: F401 - pages use common.chart_config
from pages.ui.download_panel import download_files
from pages.ui.shell import ensure_app_shell  # noqa: F401 - every page calls common.ensure_app_shell

# What the backend accepts (MB), for `max_upload_size=`: the browser then refuses a larger file.
MAX_UPLOAD_MB = MAX_UPLOAD_BYTES // 2**20  # a dataset zip; = server.maxUploadSize in config.toml
IMAGE_UPLOAD_MB = MAX_FILE_BYTES // 2**20  # one image (Classify, Inspect, Learn)


def init_state() -> None:
    """Every session_state key the app uses, with its default; called once per script run."""
    defaults = {
        "data_cfg": DataConfig(),  # the current dataset selection
        "model_cfg": default_run_config(DataConfig().name).model,  # the current architecture
        "custom_spec": ModelSpec(),  # the network being edited on the Model page
        "run_id": None,  # the run the Train page follows / other pages default to
        "upload_note": "",  # message about the last dataset upload
        "augment_designs": {},  # design_key -> AugmentConfig designed on the Data page
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


# -- shared, cached resources -------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _job_manager(runs_dir: str) -> JobManager:
    return JobManager(runs_dir)


def job_manager() -> JobManager:
    """The one job manager of this server (shared by every session), for the current runs dir."""
    return _job_manager(str(default_runs_dir()))


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def _dataset(cfg: DataConfig) -> ImageDataset:
    return load_dataset(cfg)


def current_dataset(stop: bool = True) -> ImageDataset | None:
    """The session's dataset, loaded once per server; shows a clear message when it cannot load."""
    cfg: DataConfig = st.session_state.data_cfg
    try:
        return dataset_for(cfg)
    except DatasetUnavailable as exc:
        st.error(str(exc), icon=":material/cloud_off:")
    except ValueError as exc:  # a folder/zip that is not a usable dataset
        st.error(f"This dataset cannot be used: {md_escape(exc)}", icon=":material/error:")
    st.page_link("pages/data.py", label="Choose another dataset", icon=":material/photo_library:")
    if stop:
        st.stop()
    return None


def dataset_for(cfg: DataConfig) -> ImageDataset:
    """A dataset by config (cached; a missing download first runs in the background with a
    progress panel and Cancel); raises like `load_dataset`."""
    download_files(cfg)
    return _dataset(cfg)


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _model(run_id: str, runs_dir: str, weights_mtime: float) -> LoadedModel:
    return load_model(run_id, runs_dir)


def loaded_model(run_id: str) -> LoadedModel:
    """A run's trained model, cached per (run, weights file version). Never mutate it."""
    runs_dir = default_runs_dir()
    return _model(run_id, str(runs_dir), get_run(run_id, runs_dir).weights_version())


def save_upload(source: BinaryIO | bytes, filename: str, owner: str) -> str | None:
    """Store an uploaded zip for `owner`; its reference, or None after saying why not (too large)."""
    try:
        return store_upload(source, filename, owner, max_bytes=MAX_UPLOAD_MB * 2**20).ref
    except UploadError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def upload_too_large(size_bytes: int, limit_mb: int | None = None) -> bool:
    """An uploaded image (or `limit_mb` file) over the limit gets a message; the browser checks
    `max_upload_size` too, but AppTest and other entry points bypass that check."""
    message = too_large_message(size_bytes, (limit_mb or IMAGE_UPLOAD_MB) * 2**20)
    if message:
        st.error(message, icon=":material/error:")
    return message is not None


def session_owner() -> str:
    """Whose uploads these are: the signed-in person in classroom mode (so they survive a reload),
    else the browser session."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from pages.ui.identity import classroom_on, current_identity

    if classroom_on() and (identity := current_identity()) is not None:
        return identity.user_id
    return ctx.session_id if (ctx := get_script_run_ctx()) is not None else "local"


def model_label(cfg: ModelConfig) -> str:
    from cnnlab.models import MODELS

    if cfg.name == "custom":
        return f"custom ({len(cfg.spec.blocks)} conv blocks)"
    return MODELS.get(cfg.name).title if cfg.name in MODELS else cfg.name


def data_label(cfg: DataConfig) -> str:
    if cfg.name == "folder":
        return f"your images ({Path(cfg.path).name})"
    return DATASETS.get(cfg.name).title if cfg.name in DATASETS else cfg.name


def replace_cfg(key: str, **changes: object) -> None:
    """Replace fields of a frozen config held in session_state."""
    st.session_state[key] = dataclasses.replace(st.session_state[key], **changes)
