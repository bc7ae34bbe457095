"""Server memory as users see it: the app's Streamlit server's RSS after a session loads MNIST and
CIFAR-10 on the Data page, then after N more browser sessions each open the Data page (the
datasets are shared through `st.cache_resource`, so sessions should add almost nothing).

    CNNLAB_DATA=../shared/data .venv/bin/python bench/bench_memory.py [--sessions 10]

Needs Debian's Chromium at /usr/bin/chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from bench_app import choose_dataset  # noqa: E402
from bench_train import machine  # noqa: E402

from cnnlab.data import CIFAR10_ZIP, data_root  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, rss_mb, start_server  # noqa: E402

TITLES = {
    "mnist": "MNIST (handwritten digits, 28x28)",
    "cifar10": "CIFAR-10 (photos, 32x32 colour)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    args = parser.parse_args(argv)
    root = data_root(None).resolve()
    if not CHROMIUM.exists() or not (root / "MNIST").exists() or not (root / CIFAR10_ZIP).exists():
        print(f"skipped: needs {CHROMIUM}, and MNIST and {CIFAR10_ZIP} under {root}")
        return 0
    from playwright.sync_api import sync_playwright

    os.environ["CNNLAB_DATA"] = str(root)
    print(f"Machine: {machine()}", flush=True)
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-mem-") as tmp:
        server = start_server(Path(tmp))
        pid = server.process.pid
        try:
            rows.append(("server started (no session yet)", rss_mb(pid)))
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
                )
                first = browser.new_page(viewport={"width": 1400, "height": 1000})
                first.goto(server.url)
                first.get_by_text("Quick start").first.wait_for(timeout=120_000)
                rows.append(("one session on Home", rss_mb(pid)))
                for name in ("mnist", "cifar10"):
                    choose_dataset(first, server.url, TITLES[name], timeout_ms=600_000)
                    time.sleep(2)
                    rows.append((f"... + {name} chosen on the Data page", rss_mb(pid)))
                before = rss_mb(pid)
                contexts = []
                for _ in range(args.sessions):
                    context = browser.new_context(viewport={"width": 1200, "height": 900})
                    page = context.new_page()
                    choose_dataset(page, server.url, TITLES["cifar10"], timeout_ms=600_000)
                    contexts.append(context)
                time.sleep(2)
                after = rss_mb(pid)
                rows.append((f"... + {args.sessions} sessions, each choosing CIFAR-10", after))
                for context in contexts:
                    context.close()
                browser.close()
        finally:
            server.process.terminate()
            server.process.wait(timeout=30)
    print("\n| server state | RSS MB |\n|---|---|")
    for label, mb in rows:
        print(f"| {label} | {mb:,.0f} |")
    print(
        f"\nPer extra session: {(after - before) / args.sessions:+.1f} MB "
        f"(load {os.getloadavg()[0]:.1f} at the end)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
