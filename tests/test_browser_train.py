"""Real-browser tests of live training: quick start, live chart, refresh, Stop, the Runs page.

One Streamlit server per module (tests/browser.py). Two trainings are started in all; each is
stopped as soon as it has shown what the test needs, so the module stays around a minute or two.
Measured figures (time to the first loss point, time to stop) are printed with `-s`.
"""

from __future__ import annotations

import re
import time

import pytest

from cnnlab.events import EndEvent
from cnnlab.runs import ACTIVE, get_run, list_runs
from tests.browser import Server, screenshot

TRAIN_BUTTON = re.compile(r"^Train\b")  # its name also holds the shortcut (Ctrl + Enter)

pytestmark = pytest.mark.browser

# True once any plotly chart on the page has a trace with at least one point.
HAS_POINTS = """() => [...document.querySelectorAll('.js-plotly-plot')].some(
    gd => (gd.data || []).some(t => t.x && t.x.length > 0))"""
PROGRESS = "[data-testid='stProgress']"


def open_app(pg: object, server: Server, path: str, marker: str) -> None:
    """Open a page and wait for `marker` text (more reliable than the status widget on a busy box)."""
    pg.goto(f"{server.url}/{path}")  # type: ignore[attr-defined]
    pg.get_by_text(marker).first.wait_for(timeout=60_000)  # type: ignore[attr-defined]


def current_step(pg: object) -> int:
    """The step shown in the progress text ("epoch 1/4 · step 12/136 · ...")."""
    text = pg.locator(PROGRESS).first.inner_text(timeout=30_000)  # type: ignore[attr-defined]
    match = re.search(r"step ([\d,]+)/", text)
    return int(match.group(1).replace(",", "")) if match else 0


def wait_for_step_above(pg: object, step: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = current_step(pg)
        if now > step:
            return now
        pg.wait_for_timeout(300)  # type: ignore[attr-defined]
    raise AssertionError(f"the progress stayed at step {step} for {timeout_s} s")


def status_of(server: Server, run_id: str) -> str:
    return {r.run_id: r.status for r in list_runs(server.runs_dir)}[run_id]


def only_active_run(server: Server) -> str:
    active = [r.run_id for r in list_runs(server.runs_dir) if r.status in ACTIVE]
    assert len(active) == 1, active
    return active[0]


def stop_and_wait(pg: object, server: Server, run_id: str) -> tuple[float, float]:
    """Press Stop; seconds until training ended (the "end" event) and until the run's status says
    stopped (after the final test-set evaluation)."""
    run = get_run(run_id, server.runs_dir)
    pressed = time.monotonic()
    # by its key: Streamlit's own status widget also has a "Stop" button (it stops the script)
    pg.locator(f".st-key-stop_{run_id} button").first.click()  # type: ignore[attr-defined]
    trained = None
    while status_of(server, run_id) in ACTIVE:
        assert time.monotonic() - pressed < 30, "Stop did not end the run within 30 s"
        if trained is None and any(isinstance(e, EndEvent) for e in run.read_events()[0]):
            trained = time.monotonic() - pressed
        time.sleep(0.05)
    ended = time.monotonic() - pressed
    return (trained or ended), ended


def test_quick_start_shows_live_loss_then_stop_lists_it_as_stopped(page, server) -> None:
    open_app(page, server, "", "Quick start")
    pressed = time.monotonic()
    page.get_by_role("button", name=re.compile("Quick start")).click()
    page.wait_for_function(HAS_POINTS, timeout=90_000)
    first_point_s = time.monotonic() - pressed
    run_id = only_active_run(server)
    wait_for_step_above(page, 0)
    screenshot(page, "train-live-browser")

    loop_s, stop_s = stop_and_wait(page, server, run_id)
    assert status_of(server, run_id) == "stopped"
    page.get_by_text("Stopped").first.wait_for(timeout=30_000)  # the page re-renders by itself
    assert page.evaluate(HAS_POINTS)  # the curves stay after the end
    print(
        f"\nquick start -> first loss point on screen: {first_point_s:.1f} s; Stop -> "
        f"training loop ended {loop_s:.1f} s, run marked stopped {stop_s:.1f} s"
    )

    open_app(page, server, "runs", "Manage a run")
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for(timeout=30_000)
    assert "stopped" in status_of(server, run_id)
    page.get_by_text("1 stopped").first.wait_for(timeout=10_000)  # the page's status summary


def test_refresh_during_training_keeps_it_live(page, server) -> None:
    open_app(page, server, "train", "Hyperparameters")
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("30")  # long enough to still be training after the reload
    epochs.press("Tab")
    pressed = time.monotonic()
    page.get_by_role("button", name=TRAIN_BUTTON).click()
    page.locator(PROGRESS).first.wait_for(timeout=60_000)  # the new run (the last one ended)
    page.wait_for_function(HAS_POINTS, timeout=90_000)
    print(f"\nTrain -> first loss point on screen: {time.monotonic() - pressed:.1f} s")
    run_id = only_active_run(server)
    before = wait_for_step_above(page, 0)

    page.reload()
    page.locator(PROGRESS).first.wait_for(timeout=60_000)
    after_reload = current_step(page)
    assert after_reload >= before  # the same run, picked up where it was
    wait_for_step_above(page, after_reload)  # ... and still advancing live
    assert status_of(server, run_id) == "running"
    assert page.evaluate(HAS_POINTS)

    stop_and_wait(page, server, run_id)
    assert status_of(server, run_id) == "stopped"
