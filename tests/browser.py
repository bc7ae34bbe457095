"""Real-browser test support: a Streamlit server on a free loopback port + Debian's Chromium.

Used by tests/test_browser_*.py. Skips (with the reason) where Chromium or Playwright is absent.
Never runs `playwright install`: the browser is Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SCREENSHOTS = REPO / ".artifacts" / "screenshots"  # looked at by people; gitignored


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MB (Linux /proc), e.g. the server's."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    runs_dir: Path
    process: subprocess.Popen


def start_server(tmp: Path, **settings: str) -> Server:
    """A Streamlit server of the app on a free loopback port; `settings` are extra env vars."""
    port = free_port()
    env = dict(
        os.environ,
        CNNLAB_RUNS=str(tmp / "runs"),
        CNNLAB_CACHE=str(tmp / "cache"),
        PYTHONPATH=str(REPO),
        **settings,
    )
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return Server(url, tmp / "runs", process)
        except OSError:
            time.sleep(0.3)
        if process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"streamlit did not start: {(tmp / 'server.log').read_text()[-2000:]}")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """One server per test module; a module's `SERVER_SETTINGS` dict adds env vars to it."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is absent (.ci/run installs Debian's chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    settings = getattr(request.module, "SERVER_SETTINGS", {})
    srv = start_server(tmp_path_factory.mktemp("server"), **settings)
    yield srv
    srv.process.terminate()
    try:
        srv.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        srv.process.kill()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: object, server: Server) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def open_page(pg: object, server: Server, path: str = "") -> None:
    """Open an app page (url path like "train") and wait until Streamlit has rendered it."""
    pg.goto(f"{server.url}/{path}")  # type: ignore[attr-defined]
    wait_idle(pg)


def wait_idle(pg: object, timeout_ms: int = 30_000) -> None:
    """Wait until the app's script run is over (no running indicator) and content is present."""
    pg.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)  # type: ignore[attr-defined]
    pg.wait_for_function(  # type: ignore[attr-defined]
        '() => !document.querySelector(\'[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]\')'
        " && document.querySelector('[data-testid=\"stMain\"]')",
        timeout=timeout_ms,
    )
    pg.wait_for_timeout(300)  # type: ignore[attr-defined]


def screenshot(pg: object, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
