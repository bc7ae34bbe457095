"""Shared pytest fixtures: every test gets private runs/cache folders; real data is found via CNNLAB_DATA."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never touch the user's ~/.cache; CNNLAB_DATA (real data, read-only) is left as set.
    monkeypatch.setenv("CNNLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _close_job_managers() -> Iterator[None]:
    """Each test has its own runs folder, so a page that asks for the job manager makes a new one
    with a warm worker (~800 MB): close them after the test, or a suite of AppTests fills the RAM."""
    yield
    from cnnlab.runs.jobs import JobManager
    from pages.ui.common import _job_manager

    JobManager.close_all()
    _job_manager.clear()


@pytest.fixture(autouse=True)
def _server_like_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest resets Streamlit's "v1 pages/ folder" flag before every run, so each run after the
    first would execute the page file alone, as on a fresh server's deep link; the pages'
    `ensure_app_shell` then reruns and a click is lost. A real server keeps the flag off once
    `st.navigation` has run: do the same here (set on the base class, the one Streamlit reads)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class ServerLikePages(PagesManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", ServerLikePages)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)


def shared_data() -> Path | None:
    """The folder of real datasets (../shared/data via CNNLAB_DATA), or None when absent."""
    env = os.environ.get("CNNLAB_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    return None


@pytest.fixture
def real_data() -> Path:
    path = shared_data()
    if path is None:
        pytest.skip("real data absent: set CNNLAB_DATA to ../shared/data (see .ci/run)")
    return path


# Real-browser fixtures (server, browser, page) live in tests/browser.py.
from tests.browser import browser, page, server  # noqa: E402, F401
