"""Dataset downloads in the background: progress, cancel, and a clear offline message, against a
loopback HTTP server (CNNLAB_DOWNLOAD_MIRROR) that serves a fake archive slowly."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnnlab.data.downloads import MIRROR_ENV, DatasetDownload, sources

FAKE_BYTES = 4 * 2**20  # per file; served in 64 KiB pieces, 5 ms apart (~5 s per file)


class SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(FAKE_BYTES))
        self.end_headers()
        piece = b"\0" * 2**16
        try:
            for _ in range(FAKE_BYTES // len(piece)):
                self.wfile.write(piece)
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client cancelled

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    server.paths = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{server.server_address[1]}/mnist/")
    yield server
    server.shutdown()
    server.server_close()


def test_sources_are_torchvisions_urls_or_the_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    files = dict(sources("mnist"))
    urls = files["MNIST/raw/train-images-idx3-ubyte.gz"]
    assert urls and all(u.endswith("/train-images-idx3-ubyte.gz") for u in urls)
    assert dict(sources("cifar10"))["cifar-10-python.tar.gz"][0].endswith("cifar-10-python.tar.gz")
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9/data/")
    assert dict(sources("mnist"))["MNIST/raw/t10k-labels-idx1-ubyte.gz"] == [
        "http://127.0.0.1:9/data/t10k-labels-idx1-ubyte.gz"
    ]


def test_download_reports_progress_and_cancels(mirror, tmp_path: Path) -> None:  # noqa: ANN001
    root = tmp_path / "data"
    task = DatasetDownload.start("mnist", root)
    assert DatasetDownload.start("mnist", root) is task  # one download per set, shared
    deadline = time.monotonic() + 20
    while task.state.done_bytes < 2**20 and time.monotonic() < deadline:
        time.sleep(0.05)
    state = task.state
    assert state.phase == "downloading" and state.file == "train-images-idx3-ubyte.gz"
    assert 0 < state.fraction < 1 and state.total_bytes > 0
    task.cancel()
    state = task.wait(timeout=10)
    assert state.phase == "cancelled" and state.finished
    assert mirror.paths == ["/mnist/train-images-idx3-ubyte.gz"]
    assert not [p for p in root.rglob("*") if p.is_file()]  # no partial file left behind
    assert DatasetDownload.start("mnist", root) is not task  # a cancelled one can start again
    DatasetDownload.start("mnist", root).cancel()


def test_offline_download_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{port}/")
    state = DatasetDownload.start("fashion-mnist", tmp_path / "data").wait(timeout=20)
    assert state.phase == "failed"
    assert "Is this machine offline?" in state.message
    assert "datasets --download fashion-mnist" in state.message  # what to do instead
