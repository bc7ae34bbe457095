"""A fresh server's first click: start the app, open Home in Chromium, press "Quick start", and time
the first loss point on screen (issue 13's target: within 3 s of the click).

    .venv/bin/python bench/bench_first_click.py [--repeats 2] [--wait 0]

Each round starts a new Streamlit server (tests/browser.py: a free loopback port, its own runs and
cache folders, so the shapes set is not on disk yet) and a new browser page. `--wait` seconds pass
between Home being on screen and the click (0 = click as soon as the button shows, the worst case).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from bench_app import HAS_POINTS  # noqa: E402
from bench_train import machine  # noqa: E402

from cnnlab.events import BatchEvent, StartEvent  # noqa: E402
from cnnlab.runs import get_run, list_runs  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, start_server  # noqa: E402


def stages(runs_dir: Path, clicked: float) -> str:
    """When the run reached each stage, in s after the click (from its own time stamps)."""
    (info,) = list_runs(runs_dir)
    run = get_run(info.run_id, runs_dir)
    events = run.read_events()[0]
    start = next((e.time for e in events if isinstance(e, StartEvent)), None)
    batch = next((e.time for e in events if isinstance(e, BatchEvent)), None)
    marks = {"run created": info.created, "job started": run.status().started}
    marks |= {"training started": start, "first batch written": batch}
    return ", ".join(f"{k} {v - clicked:.2f}" for k, v in marks.items() if v)


def first_click(browser: object, wait_s: float) -> tuple[float, float, str]:
    """(s from server start to Home on screen, s from the Quick start click to the first point,
    the run's stages). The run's job ends with the server (it trains on in the tmp folder)."""
    with tempfile.TemporaryDirectory(
        prefix="cnnlab-bench-click-", ignore_cleanup_errors=True
    ) as tmp:
        started = time.monotonic()
        server = start_server(Path(tmp))
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
            page.goto(server.url)
            button = page.get_by_role("button", name="Quick start: train a network now")
            button.wait_for(timeout=120_000)
            home = time.monotonic() - started
            time.sleep(wait_s)
            clicked, clicked_unix = time.monotonic(), time.time()
            button.click()
            page.wait_for_function(HAS_POINTS, timeout=120_000, polling=20)
            first = time.monotonic() - clicked
            page.close()
            marks = stages(server.runs_dir, clicked_unix)
        finally:
            server.process.terminate()
            server.process.wait(timeout=30)
    return home, first, marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--wait", type=float, default=0.0, help="s between Home and the click")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} not found (apt-get install chromium)")
        return 0
    from playwright.sync_api import sync_playwright

    print(f"Machine: {machine()}", flush=True)
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for i in range(args.repeats):
            rows.append(first_click(browser, args.wait))
            print(
                f"round {i + 1}: Home after {rows[-1][0]:.2f} s, first point "
                f"{rows[-1][1]:.2f} s after the click ({rows[-1][2]})",
                flush=True,
            )
        browser.close()
    firsts = [r[1] for r in rows]
    print(
        f"\n| fresh server, Quick start click -> first loss point (s), {args.repeats} rounds, "
        f"click {args.wait:g} s after Home | median {statistics.median(firsts):.2f} | worst "
        f"{max(firsts):.2f} | Home on screen {statistics.median(r[0] for r in rows):.1f} s after "
        f"server start | load {os.getloadavg()[0]:.1f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
