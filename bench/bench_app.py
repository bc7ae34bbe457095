"""The app's own training path, measured in a real browser: press Train on the Train page with
MNIST selected, time the first loss point on screen, and compare the run's images/s with the CLI's
(`python -m cnnlab train --run-dir RUN` in a new process) in the same benchmark, interleaved.

    CNNLAB_DATA=../shared/data .venv/bin/python bench/bench_app.py [--repeats 3]

Needs Debian's Chromium at /usr/bin/chromium and the playwright package (never `playwright
install`). The Streamlit server is the app as users run it (tests/browser.py starts it on a free
loopback port with its own runs folder); the page polls the job exactly as for a user.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from bench_train import events_images_per_s, machine, run_cli  # noqa: E402

from cnnlab.data import data_root  # noqa: E402
from cnnlab.events import StartEvent  # noqa: E402
from cnnlab.recipes import default_run_config  # noqa: E402
from cnnlab.runs import ACTIVE, get_run, list_runs  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, start_server  # noqa: E402

TRAIN_BUTTON = re.compile(r"^Train\b")  # its name also holds the shortcut (Ctrl + Enter)

# True once a plotly chart on the page has a trace with at least one point (the live loss curve).
HAS_POINTS = """() => [...document.querySelectorAll('.js-plotly-plot')].some(
    gd => (gd.data || []).some(t => t.x && t.x.length > 0))"""


def app_run(page: object, url: str, runs_dir: Path) -> tuple[float, float, float]:
    """Press Train on the Train page; (s to the first loss point on screen, images/s, test acc).

    Navigates by the sidebar link: a page load (goto) would start a new session."""
    nav = page.locator(f'[data-testid="stSidebarNav"] a[href="{url}/train"]')  # type: ignore[attr-defined]
    nav.click()
    button = page.get_by_role("button", name=TRAIN_BUTTON)  # type: ignore[attr-defined]
    button.wait_for(timeout=120_000)
    known = {r.run_id for r in list_runs(runs_dir)}
    page.wait_for_timeout(1000)  # type: ignore[attr-defined]  # settle: no rerun in flight
    pressed = time.monotonic()
    button.click()
    page.wait_for_function(HAS_POINTS, timeout=120_000, polling=20)  # type: ignore[attr-defined]
    first_point = time.monotonic() - pressed
    (run_id,) = {r.run_id for r in list_runs(runs_dir)} - known
    run = get_run(run_id, runs_dir)
    while run.status().status in ACTIVE:
        time.sleep(0.2)
    events = run.read_events()[0]
    start = next(e for e in events if isinstance(e, StartEvent))
    assert run.config().data.name == "mnist", run.config().data
    return (
        first_point,
        events_images_per_s(events, start.batch_size),
        float(run.metrics().get("test_acc", float("nan"))),
    )


def choose_dataset(page: object, url: str, title: str, timeout_ms: int = 120_000) -> None:
    """On the Data page (a page load: a new session when `page` had one), pick and use `title`."""
    page.goto(f"{url}/data")  # type: ignore[attr-defined]
    page.get_by_text(title).click(timeout=timeout_ms)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Use this dataset").click()  # type: ignore[attr-defined]
    short = title.split(" (")[0]
    sidebar = page.get_by_test_id("stSidebar")  # type: ignore[attr-defined]
    sidebar.get_by_text(re.compile(re.escape(short))).first.wait_for(timeout=timeout_ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} not found (apt-get install chromium)")
        return 0
    from playwright.sync_api import sync_playwright

    root = data_root(None)
    if not (root / "MNIST").exists():
        print(f"skipped: no MNIST under {root} (set CNNLAB_DATA=../shared/data)")
        return 0
    os.environ["CNNLAB_DATA"] = str(root.resolve())  # the server and its jobs read it
    cfg = default_run_config("mnist", root=str(root.resolve()))
    print(f"Machine: {machine()}", flush=True)
    rows: dict[str, list[tuple[float, float, float]]] = {"cli": [], "app": []}
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-app-") as tmp:
        server = start_server(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                choose_dataset(page, server.url, "MNIST (handwritten digits, 28x28)")
                time.sleep(5)  # the job manager's warm worker finishes importing torch
                for i in range(args.repeats):
                    cli = run_cli(cfg, Path(tmp) / "cli-runs")
                    rows["cli"].append((cli.first_batch_s, cli.images_per_s, cli.test_acc))
                    rows["app"].append(app_run(page, server.url, server.runs_dir))
                    print(
                        f"round {i + 1}: CLI {rows['cli'][-1]}, app {rows['app'][-1]}", flush=True
                    )
                browser.close()
        finally:
            server.process.terminate()
            server.process.wait(timeout=30)
    cli_ips = statistics.median(r[1] for r in rows["cli"])
    lines = [
        "",
        f"MNIST default recipe, {args.repeats} interleaved rounds, median (best); load "
        f"{os.getloadavg()[0]:.1f} at the end:",
        "",
        "| path | first loss point, s after pressing Train | images/s | vs the CLI | test acc |",
        "|---|---|---|---|---|",
    ]
    for name, label in (("cli", "CLI, new process"), ("app", "app: Train page, job, page polling")):
        r = rows[name]
        first = [x[0] for x in r]
        ips = [x[1] for x in r]
        first_txt = (
            f"{statistics.median(first):.2f} ({min(first):.2f})"
            if name == "app"
            else f"({statistics.median(first):.2f} s to its first batch event)"
        )
        lines.append(
            f"| {label} | {first_txt} | {statistics.median(ips):,.0f} ({max(ips):,.0f}) | "
            f"{statistics.median(ips) / cli_ips:.0%} | {statistics.median(x[2] for x in r):.2%} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
