"""Real-browser test of Classify's live camera: Chromium's fake camera plays a clip of a bright
bar (vertical or horizontal) to the server over WebRTC (loopback, no ICE servers), and the live
prediction beside the video names the clip's pattern, with a model trained in the test on a
tiny folder dataset of the two patterns (~5 s of training through the CLI). One Chromium per
clip. Also: the Pause freezes the prediction, Grad-CAM still predicts, and the measured rate;
and on a class-network name (mapped to loopback) plain http gets no camera and the page says
why, while https with a self-signed certificate streams (issue 14 item 9).

Screenshots go to .artifacts/screenshots/ (classify-live-*.png).
"""

from __future__ import annotations

import datetime
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cnnlab.stream import PANEL_COLOUR
from pages.ui.classify_live import HTTPS_MESSAGE
from tests.browser import REPO, Server, free_port, screenshot, wait_idle
from tests.camera_clips import (
    LIVE_TEXT,
    PATTERNS,
    camera_page,
    live_prediction,
    pick_live,
    press_start,
    returned_video,
    settled_prediction,
    start_live,
    top_bar_share,
    train_folder_run,
    write_clip,
    write_pattern_dataset,
)

pytestmark = pytest.mark.browser
CLASS_HOST = "lab.test"  # the name students type on a class network (mapped to loopback)


@pytest.fixture(scope="module")
def bars_run(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A classic CNN trained on 40 + 40 pictures of a vertical and a horizontal bar."""
    folder = write_pattern_dataset(tmp_path_factory.mktemp("bars") / "bars")
    return train_folder_run(server.runs_dir, folder)


def rate_shown(page: object) -> float:
    metric = page.get_by_test_id("stMetricValue").first.inner_text()  # type: ignore[attr-defined]
    return float(metric) if re.fullmatch(r"[\d.]+", metric) else 0.0


@pytest.mark.parametrize("kind", PATTERNS)
def test_live_prediction_names_the_pattern_on_camera(browser, server, bars_run, tmp_path, kind):
    clip = write_clip(tmp_path / f"{kind}.y4m", kind)
    with camera_page(browser, server, clip) as page:
        start_live(page, server)
        page.wait_for_timeout(2000)  # the rate window fills
        names, rates = [], []
        for _ in range(4):  # the answer holds while the stream runs
            names += settled_prediction(page, reads=1)
            rates.append(rate_shown(page))
        assert names == [kind] * len(names), f"clip of a {kind} bar, read {names}"
        assert live_prediction(page)[1] > 0.5
        # the clip plays at 10 frames/s; the stream predicts nearly all of them (never queues)
        assert max(rates) >= 5.0, f"{rates} predictions/s"
        # the frames coming back carry the prediction: the top class's bar, bottom left
        assert top_bar_share(returned_video(page), PANEL_COLOUR) > 0.02
        screenshot(page, f"classify-live-{kind}")
        if kind == PATTERNS[0]:
            check_grad_cam_and_pause(page, kind)


def check_grad_cam_and_pause(page: object, kind: str) -> None:
    page.get_by_text("Grad-CAM", exact=True).click()  # type: ignore[attr-defined]
    wait_idle(page)
    page.get_by_text("Grad-CAM on:").wait_for(timeout=30_000)  # type: ignore[attr-defined]
    assert settled_prediction(page, reads=2) == [kind, kind]
    screenshot(page, "classify-live-gradcam")
    page.get_by_text("Pause", exact=True).click()  # type: ignore[attr-defined]
    wait_idle(page)
    page.get_by_text("Frozen: turn Pause off").wait_for(timeout=30_000)  # type: ignore[attr-defined]
    metric = page.get_by_test_id("stMetricValue").first  # type: ignore[attr-defined]
    assert metric.inner_text() == "paused"
    screenshot(page, "classify-live-paused")


def self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """(cert.pem, key.pem) of a self-signed certificate for `host`, as README "Classroom" makes
    with openssl (here with `cryptography`, an aiortc dependency)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextmanager
def class_server(runs_dir: Path, tmp: Path, tls: bool) -> Iterator[str]:
    """The app on loopback, reached by the browser as `CLASS_HOST` (a class-network name): plain
    http, or https with a self-signed certificate. Yields the browser's base url."""
    port = free_port()
    flags = ["--server.allowedHosts", CLASS_HOST]  # one flag per name (a comma list is one name)
    if tls:
        cert, key = self_signed(tmp, CLASS_HOST)
        flags += ["--server.sslCertFile", str(cert), "--server.sslKeyFile", str(key)]
    env = dict(os.environ, CNNLAB_RUNS=str(runs_dir), CNNLAB_CACHE=str(tmp / "cache"),
               PYTHONPATH=str(REPO))  # fmt: skip
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port",
           str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", *flags]  # fmt: skip
    with open(tmp / f"server-{tls}.log", "wb") as log:
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    scheme = "https" if tls else "http"
    try:
        deadline = time.monotonic() + 60
        unverified = ssl._create_unverified_context()  # noqa: S323 - our own self-signed test cert
        while True:
            try:
                health = f"{scheme}://127.0.0.1:{port}/_stcore/health"
                with urllib.request.urlopen(health, timeout=2, context=unverified):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((tmp / f"server-{tls}.log").read_text()[-2000:]) from None
                time.sleep(0.3)
        yield f"{scheme}://{CLASS_HOST}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_camera_needs_https_on_a_class_network(browser, server, bars_run, tmp_path) -> None:
    """Reached by a class-network name, plain http gets no camera (the browser's rule) and the
    page says why; the same page over https (self-signed, the warning accepted) streams."""
    clip = write_clip(tmp_path / "v.y4m", "vertical")
    rules = f"--host-resolver-rules=MAP {CLASS_HOST} 127.0.0.1"  # the name, on loopback
    with camera_page(browser, server, clip, extra_args=[rules], ignore_https_errors=True) as page:
        with class_server(server.runs_dir, tmp_path, tls=False) as url:
            page.goto(f"{url}/classify")
            wait_idle(page)
            assert page.evaluate("window.isSecureContext") is False
            pick_live(page)
            page.get_by_text(HTTPS_MESSAGE).wait_for()
            screenshot(page, "classify-live-plain-http")
        with class_server(server.runs_dir, tmp_path, tls=True) as url:
            page.goto(f"{url}/classify")
            wait_idle(page)
            assert page.evaluate("window.isSecureContext") is True
            pick_live(page)
            press_start(page)
            page.get_by_text(LIVE_TEXT).first.wait_for(timeout=60_000)
            assert page.get_by_text(HTTPS_MESSAGE).count() == 0
            assert settled_prediction(page, reads=2) == ["vertical", "vertical"]
            screenshot(page, "classify-live-https")
