"""Streamlit's own features in the app (issue 13 item 5): chart PNG names, upload limits, keyboard
shortcuts, the viewer's time zone, the /inspect address. Browser checks: test_ux_browser.py."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import PIL.Image
import pytest
from streamlit.testing.v1 import AppTest

from cnnlab.data.images import MAX_FILE_BYTES
from cnnlab.data.uploads import MAX_UPLOAD_BYTES
from cnnlab.runs.status import Status
from cnnlab.runs.store import RunInfo
from cnnlab.runs.tables import run_title, runs_frame, viewer_time
from pages.ui.charts import chart_config, png_filename

APP = str(Path(__file__).resolve().parent.parent / "app.py")
# 2026-07-01 12:30 UTC: summer time in Paris (UTC+2) and New York (UTC-4)
NOON_UTC = dt.datetime(2026, 7, 1, 12, 30, tzinfo=dt.UTC).timestamp()


def info(created: float) -> RunInfo:
    return RunInfo(
        run_id="20260701-123000-abcdef",
        status=Status.FINISHED,
        created=created,
        dataset="Shapes (generated)",
        model="tiny",
        optimizer="adamw",
        lr=0.01,
        epochs=3,
        batch_size=64,
        best_val_acc=0.9,
        test_acc=0.9,
        duration_s=12.0,
        message="",
    )


@pytest.mark.parametrize(
    ("tz", "clock"), [("Europe/Paris", "14:30"), ("America/New_York", "08:30"), ("UTC", "12:30")]
)
def test_times_are_in_the_viewers_time_zone(tz: str, clock: str) -> None:
    assert viewer_time(NOON_UTC, tz).strftime("%H:%M") == clock
    assert run_title(info(NOON_UTC), tz).startswith(f"01 Jul {clock} · shapes")
    started = runs_frame([info(NOON_UTC)], tz)["started"][0]
    assert started.strftime("%H:%M") == clock and str(started.tzinfo) == tz


@pytest.mark.parametrize("tz", [None, "", "Not/AZone", "../../etc/passwd"])
def test_an_unknown_time_zone_falls_back_to_the_servers(tz: str | None) -> None:
    server = dt.datetime.fromtimestamp(NOON_UTC).strftime("%H:%M")  # the server's local time
    assert viewer_time(NOON_UTC, tz).strftime("%H:%M") == server


def test_chart_config_keeps_the_toolbar_with_a_named_png() -> None:
    config = chart_config("Confusion matrix")
    assert "displayModeBar" not in config  # plotly's default: the toolbar shows on hover
    assert config["toImageButtonOptions"]["filename"] == "cnnlab-confusion-matrix"
    assert config["toImageButtonOptions"]["format"] == "png"
    assert png_filename("batch loss 20260701-1230/ab") == "cnnlab-batch-loss-20260701-1230-ab"
    assert png_filename("∞") == "cnnlab-chart"


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", size, (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_uploaders_refuse_in_the_browser_what_the_backend_refuses() -> None:
    """The Learn page's image uploader: the browser refuses > 50 MB (max_upload_size), and a
    file that got past it anyway (AppTest skips the browser) gets a clear message."""
    from pages.ui import common

    assert common.IMAGE_UPLOAD_MB * 2**20 == MAX_FILE_BYTES
    assert common.MAX_UPLOAD_MB * 2**20 == MAX_UPLOAD_BYTES
    at = open_page("learn")
    at.selectbox(key="learn_source").set_value("Upload your own image").run()
    uploader = at.file_uploader(key="learn_upload")
    assert uploader.proto.max_upload_size_mb == common.IMAGE_UPLOAD_MB == 50
    big = png((64, 64)) + b"\0" * (MAX_FILE_BYTES + 1)  # a valid PNG padded past the limit
    uploader.set_value(("huge.png", big, "image/png")).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "the limit is 50 MB" in errors, errors


def test_train_has_a_keyboard_shortcut() -> None:
    at = open_page("train")
    button = at.button(key="train_submit")
    assert button.proto.shortcut == "ctrl+enter"  # Streamlit normalises it
    assert "Ctrl+Enter" in " ".join(c.value for c in at.caption)


def _progress_panel() -> None:  # AppTest runs this function's source alone: imports inside
    from cnnlab.events import BatchEvent, StartEvent
    from cnnlab.runs.live import build_view
    from cnnlab.runs.status import RunStatus, Status
    from pages.ui.live_panel import show_progress

    status = RunStatus(status=Status.RUNNING, epochs=2, total_steps=10, step=3)
    events = [StartEvent(epochs=2, total_steps=10), BatchEvent(epoch=1, step=3, loss=1.2)]
    show_progress(build_view("run-1", status, events))


def test_stop_has_a_keyboard_shortcut_named_in_its_help() -> None:
    at = AppTest.from_function(_progress_panel, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    stop = at.button(key="stop_run-1")
    assert stop.label == "Stop" and stop.proto.shortcut == "alt+s"
    assert "Alt+S" in stop.help


def test_inspect_lives_at_inspect() -> None:
    at = open_page("learn")
    links = {link.proto.page for link in at.get("page_link")}
    assert "inspect" in links and "inside" not in links
