"""What the Make-a-dataset widgets share: the message of the last action, refused actions shown
as messages (never a crash), the thumbnail cache, and making a made dataset the session's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from cnnlab.data import made
from cnnlab.data.made_samples import thumbnail_png
from cnnlab.recipes import default_run_config
from cnnlab.text import md_escape
from pages.ui import common

T = TypeVar("T")
NOTE = "builder_note"  # session key: (kind, Markdown) shown at the top after the rerun


def say(kind: str, text: str) -> None:
    """Keep a message ("success", "error", "warning", "info") for the top of the next run."""
    st.session_state[NOTE] = (kind, text)


def show_note() -> None:
    kind, text = st.session_state.pop(NOTE, ("", ""))
    icons = {"success": "check_circle", "error": "error", "warning": "warning", "info": "info"}
    if kind in icons:
        getattr(st, kind)(text, icon=f":material/{icons[kind]}:")


def attempt(action: Callable[..., T], *args: object) -> T | None:
    """`action(*args)`, or None after keeping why it was refused (bad name, not allowed, ...)."""
    try:
        return action(*args)
    except (ValueError, PermissionError) as exc:  # MadeError, ImageError, AccessDenied
        say("error", md_escape(exc))
    except OSError as exc:  # a full disk, a folder removed under us
        say("error", f"The dataset folder could not be changed: {md_escape(exc.strerror or exc)}")
    return None


@st.cache_data(show_spinner=False, max_entries=4000)
def thumbnail(path: str, mtime_ns: int) -> bytes:
    """A sample's small PNG, cached per file version (mtime_ns: a new file is a new entry)."""
    from pathlib import Path

    return thumbnail_png(Path(path))


def forget_loaded(ds: made.MadeDataset) -> None:
    """Drop the cached loaded dataset of the session's config when it is `ds` (samples changed)."""
    cfg = st.session_state.get("data_cfg")
    if cfg is not None and made.dataset_of(cfg) == ds:
        common._dataset.clear(cfg)


def use_dataset(ds: made.MadeDataset, image_size: int) -> bool:
    """Make `ds` the session's dataset (True), or keep why not as the message (False)."""
    if attempt(made.check_trainable, ds) is None:
        return False
    cfg = made.data_config(ds, image_size)
    common._dataset.clear(cfg)  # same config, new samples: load it again
    old = st.session_state.data_cfg
    if st.session_state.model_cfg == default_run_config(old.name).model:  # not customised
        st.session_state.model_cfg = default_run_config(cfg.name).model
    st.session_state.data_cfg = cfg
    # The Train form starts with a batch size and epochs sized for this small set (see made.py).
    st.session_state.share_pending = {"train": made.train_suggestion(ds), "augment": None}
    st.session_state.tr_origin = "sized for this dataset (batches of 16, ~120 steps)"
    return True
