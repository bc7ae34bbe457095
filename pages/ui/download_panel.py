"""A dataset download on screen: progress in an `st.status` panel, with a Cancel button.

The download itself runs in the background (`cnnlab.data.downloads`), shared by every session:
leaving the page does not stop it, and the next page that needs the set shows its progress again.
"""

from __future__ import annotations

import time

import streamlit as st

from cnnlab.config import DataConfig
from cnnlab.data import DATASETS, DatasetUnavailable, data_root, dataset_status
from cnnlab.data.downloads import DatasetDownload

POLL_S = 0.25  # seconds between progress updates


def download_files(cfg: DataConfig) -> None:
    """Return once `cfg`'s files are here, downloading them first when they are missing (a
    progress panel shows meanwhile). Raises DatasetUnavailable when it failed or was cancelled."""
    info = DATASETS.get(cfg.name)
    if not info.download_bytes or dataset_status(cfg.name, cfg.root)[0]:
        return
    task = DatasetDownload.start(cfg.name, data_root(cfg.root))
    size = f"{info.download_bytes / 1e6:.0f} MB"
    with st.status(f"Downloading {info.title} ({size}, once)…", expanded=True) as status:
        bar = st.progress(0.0, text="connecting…")
        st.button(
            "Cancel the download",
            icon=":material/close:",
            key=f"download_cancel_{cfg.name}",
            on_click=task.cancel,
        )
        while not (state := task.state).finished:
            bar.progress(state.fraction, text=state.text)
            time.sleep(POLL_S)
        if state.phase != "done":
            status.update(label=f"{info.title}: the download {state.phase}", state="error")
            raise DatasetUnavailable(state.message)
        bar.progress(1.0, text="downloaded and checked")
        status.update(label=f"Downloaded {info.title}", state="complete", expanded=False)
