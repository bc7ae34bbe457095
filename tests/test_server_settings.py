"""Server settings the lab relies on: the upload limit (in the server and in the app), XSRF
protection, and no raw tracebacks for users.

`.streamlit/config.toml` is read as Streamlit itself resolves it (`streamlit config show`, which
names the file each value came from); AppTest bypasses the server's upload check, so the pages'
own check is exercised there with a tiny monkeypatched limit; a real browser shows that users see
the limit on the upload boxes.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnnlab import cli
from cnnlab.config import DataConfig
from cnnlab.text import md_escape
from pages.ui import common
from tests.browser import Server, open_page

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
CONFIG = REPO / ".streamlit" / "config.toml"
LEARN_UPLOAD = "Upload your own image"  # pages/learn.py's UPLOAD (importing a page runs it)


def png(side: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((side, side), 200, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def train_digits(runs: Path) -> None:
    args = ["--runs-dir", str(runs), "train", "--dataset", "digits", "--epochs", "1"]
    assert cli.main([*args, "--threads", "1", "--quiet"]) == cli.EXIT_OK


# -- the config file, as Streamlit resolves it -----------------------------------------------------
def test_config_file_sets_the_real_upload_limit_xsrf_and_hidden_error_details() -> None:
    config = tomllib.loads(CONFIG.read_text())
    assert config["server"]["maxUploadSize"] == common.MAX_UPLOAD_MB
    assert config["server"]["enableXsrfProtection"] is True
    assert config["client"]["showErrorDetails"] == "none"


def test_streamlit_resolves_those_settings_from_the_repo_config() -> None:
    """What a server started in the repo uses (catches a misspelt key, which Streamlit ignores)."""
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    source = f"# The value below was set in {CONFIG}"
    for setting in (
        f"maxUploadSize = {common.MAX_UPLOAD_MB}",
        "enableXsrfProtection = true",
        'showErrorDetails = "none"',
    ):
        assert re.search(rf"^{re.escape(source)}\n{re.escape(setting)}$", shown, re.M), setting


def test_post_script_gc_is_off_in_a_server_started_in_the_repo() -> None:
    """Streamlit's full gc.collect(2) after every script run cost ~0.3 s of GIL time per live
    Train panel refresh (a hidden option, so `config show` does not list it: ask Streamlit)."""
    code = (
        "from streamlit import config; config.get_config_options(force_reparse=True); "
        "print(config.get_option('runner.postScriptGC'))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert shown.stdout.strip() == "False", shown.stderr


# -- the app's own size check (AppTest bypasses the server's) --------------------------------------
@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("settings") / "runs"
    train_digits(path)
    return path


@pytest.fixture
def tiny_limit(
    runs_dir: Path, _private_dirs: None, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, bytes]:
    """A 1 MB limit (the pages read `common.MAX_UPLOAD_MB` for zips and `common.IMAGE_UPLOAD_MB`
    for images when checking) and a file 1 byte over it, with a finished run for the pages that
    need a model."""
    monkeypatch.setenv("CNNLAB_RUNS", str(runs_dir))
    monkeypatch.setattr(common, "MAX_UPLOAD_MB", 1)
    monkeypatch.setattr(common, "IMAGE_UPLOAD_MB", 1)
    return 1, png() + b"\0" * (2**20 + 1 - len(png()))


def open_app(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def refused(at: AppTest, limit_mb: int) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"the limit is {limit_mb} MB" in e.value for e in at.error), [
        e.value for e in at.error
    ]


def test_data_page_refuses_a_zip_over_the_limit(tiny_limit: tuple[int, bytes]) -> None:
    limit, data = tiny_limit
    at = open_app("data")
    at.file_uploader(key="zip_file").set_value(("big.zip", data, "application/zip"))
    at.form_submit_button[1].click().run()  # "Use these images"
    refused(at, limit)
    assert at.session_state.data_cfg == DataConfig()  # unchanged


def test_classify_page_skips_an_image_over_the_limit(tiny_limit: tuple[int, bytes]) -> None:
    limit, data = tiny_limit
    at = open_app("classify")
    at.file_uploader(key="classify_upload").set_value([("big.png", data, "image/png")]).run()
    refused(at, limit)
    assert any(md_escape("big.png was skipped") in c.value for c in at.caption)
    assert not any("→" in m.value for m in at.markdown)  # nothing was classified


def test_inspect_page_refuses_an_image_over_the_limit(tiny_limit: tuple[int, bytes]) -> None:
    limit, data = tiny_limit
    at = open_app("inspect")
    at.segmented_control(key="inside_source").set_value("Upload").run()
    at.file_uploader(key="inside_upload").set_value(("big.png", data, "image/png")).run()
    refused(at, limit)


def test_learn_page_refuses_an_image_over_the_limit(tiny_limit: tuple[int, bytes]) -> None:
    limit, data = tiny_limit
    at = open_app("learn")
    at.selectbox(key="learn_source").set_value(LEARN_UPLOAD).run()
    at.file_uploader(key="learn_upload").set_value(("big.png", data, "image/png")).run()
    refused(at, limit)
    assert any("Until you upload one" in c.value for c in at.caption)  # lessons use a default


# -- what users see in a real browser ---------------------------------------------------------------
@pytest.mark.browser
def test_upload_boxes_show_the_limit(page, server: Server) -> None:  # noqa: ANN001
    """Each drop zone states its own limit: the zip box server.maxUploadSize ("200MB per file",
    which the config test above ties to MAX_UPLOAD_MB), an image box the backend's image limit
    (IMAGE_UPLOAD_MB, "50MB per file")."""
    train_digits(server.runs_dir)  # Classify needs a trained model before it shows its uploader
    limit = re.compile(rf"\b{common.MAX_UPLOAD_MB} ?MB per file")  # "200MB per file"
    image_limit = re.compile(rf"\b{common.IMAGE_UPLOAD_MB} ?MB per file")
    open_page(page, server, "data")
    page.get_by_role("heading", name="Data", exact=True).wait_for(timeout=120_000)
    page.get_by_role("tab", name="Upload a zip").click()
    page.get_by_test_id("stFileUploaderDropzone").get_by_text(limit).first.wait_for()
    open_page(page, server, "classify")
    page.get_by_role("heading", name="Classify", exact=True).wait_for(timeout=120_000)
    page.get_by_test_id("stFileUploaderDropzone").get_by_text(image_limit).first.wait_for()
    assert not page.locator("[data-testid=stException]").count()
