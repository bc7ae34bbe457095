"""Server CPU of one page view: time.process_time around an AppTest run of each page, in a fresh
session each time (caches shared across sessions stay warm, as on a server after its first visit).

    .venv/bin/python bench/bench_page_cpu.py learn data [--repeats 5]

The first view pays imports and cache fills; "later views" is what every further visitor costs.
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
sys.path[:0] = [str(REPO)]


def view(page: str) -> float:
    """Server CPU seconds of one view of `page` in a new session."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    at.switch_page(f"pages/{page}.py")
    start = time.process_time()
    at.run()
    cpu = time.process_time() - start
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception}")
    return cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="cnnlab-bench-cpu-")
    os.environ.setdefault("CNNLAB_RUNS", f"{tmp}/runs")
    os.environ.setdefault("CNNLAB_CACHE", f"{tmp}/cache")
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class ServerLikePages(PagesManager):  # as tests/conftest.py: a server's routing, not v1 pages
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, **k)
            PagesManager.uses_pages_directory = False

    app_test.PagesManager = ServerLikePages
    print("| page | first view, s CPU | later views, s CPU (median) | load |")
    print("|---|---|---|---|")
    for page in args.pages:
        first = view(page)
        later = statistics.median(view(page) for _ in range(args.repeats))
        print(f"| {page} | {first:.3f} | {later:.3f} | {os.getloadavg()[0]:.1f} |", flush=True)
    from cnnlab.runs.jobs import JobManager

    JobManager.close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
