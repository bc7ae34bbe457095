"""Real-browser tests of the Train form (issue 20, items 1 and 3): what is on screen when Train
is pressed is exactly what the run's config.json holds, and a burst of presses queues one run.

Short runs on the embedded `shapes` set (1-2 epochs). Retyping happens while the previous run
is queued/starting, running and finished: the moments its metadata changes the run's label in
the "Watch a run" picker, which used to send the form back to the recipe.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from cnnlab.runs import ACTIVE, list_runs
from tests.browser import Server, screenshot, wait_idle

TRAIN_BUTTON = re.compile(r"^Train\b")  # its name also holds the shortcut (Ctrl + Enter)

pytestmark = pytest.mark.browser

FIELDS = {"epochs": "Epochs", "lr": "Learning rate", "seed": "Seed"}
# typed values per press; each differs from the one before (else it is a double press)
TYPED = [
    {"epochs": 2, "lr": 0.004, "seed": 11},
    {"epochs": 1, "lr": 0.003, "seed": 12},
    {"epochs": 2, "lr": 0.0025, "seed": 13},
    {"epochs": 1, "lr": 0.002, "seed": 14},
    {"epochs": 1, "lr": 0.006, "seed": 15},
]


def type_values(pg: object, values: dict[str, float]) -> None:
    for name, value in values.items():
        field = pg.get_by_label(FIELDS[name], exact=True)  # type: ignore[attr-defined]
        field.fill(f"{value:g}")
        field.press("Tab")


def shown(pg: object) -> dict[str, float]:
    return {
        name: float(pg.get_by_label(label, exact=True).input_value())  # type: ignore[attr-defined]
        for name, label in FIELDS.items()
    }


def new_run(server: Server, known: set[str], timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = {r.run_id for r in list_runs(server.runs_dir)} - known
        if new:
            assert len(new) == 1, new
            return new.pop()
        time.sleep(0.1)
    raise AssertionError("pressing Train made no run")


def wait_status(server: Server, run_id: str, done: bool, timeout_s: float = 180) -> None:
    """Until the run is running with its metadata written (`done` False) or has ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = {r.run_id: r for r in list_runs(server.runs_dir)}[run_id]
        meta = (server.runs_dir / run_id / "meta.json").is_file()
        if (info.status not in ACTIVE) if done else (meta or info.status not in ACTIVE):
            return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} is still {info.status}")


def config_of(server: Server, run_id: str) -> dict[str, float]:
    cfg = json.loads((server.runs_dir / run_id / "config.json").read_text())["train"]
    return {name: float(cfg[name]) for name in FIELDS}


def test_every_run_trains_exactly_what_the_form_showed(page, server) -> None:
    page.goto(f"{server.url}/train")
    page.get_by_text("Hyperparameters").first.wait_for(timeout=60_000)
    wait_idle(page)
    known: set[str] = set()
    for i, values in enumerate(TYPED):
        type_values(page, values)
        on_screen = shown(page)
        assert on_screen == {k: float(v) for k, v in values.items()}
        page.get_by_role("button", name=TRAIN_BUTTON).click()
        run_id = new_run(server, known)
        known.add(run_id)
        assert config_of(server, run_id) == on_screen, f"press {i + 1}"
        wait_idle(page)
        assert shown(page) == on_screen, f"the form changed after press {i + 1}"
        # the next values are typed while this run starts (i even) or after it ended (i odd)
        wait_status(server, run_id, done=i % 2 == 1)
        if i == 0:
            page.wait_for_timeout(1500)  # the live panel and the picker's label update
            screenshot(page, "train-form-during-run")
    last = max(known)
    wait_status(server, last, done=True)
    page.wait_for_timeout(1500)
    wait_idle(page)
    assert shown(page) == {k: float(v) for k, v in TYPED[-1].items()}
    screenshot(page, "train-form-after-runs")


def test_a_burst_of_train_presses_queues_one_run(page, server) -> None:
    page.goto(f"{server.url}/train")
    page.get_by_text("Hyperparameters").first.wait_for(timeout=60_000)
    wait_idle(page)
    known = {r.run_id for r in list_runs(server.runs_dir)}
    type_values(page, {"epochs": 1, "lr": 0.0077, "seed": 99})
    button = page.get_by_role("button", name=TRAIN_BUTTON)
    for _ in range(10):
        button.click(timeout=5_000, force=True)
    run_id = new_run(server, known)
    page.wait_for_timeout(3000)
    wait_idle(page)
    after = {r.run_id for r in list_runs(server.runs_dir)} - known
    assert after == {run_id}, f"{len(after)} runs queued by one burst"
    wait_status(server, run_id, done=True)
