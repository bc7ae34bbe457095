"""Issue 20.2 in a real browser: names from one user's upload are shown as text on every page.

A zip's class folders and file names are attacker-chosen on a shared server. Each page that prints
them (Data, Model, Train, Evaluate, Inspect, Classify, Runs; the sidebar; chart labels and tables)
must show the characters, never a link, an image fetch or a style. The run is trained on the
hostile zip by the CLI into the server's runs folder; the Data page gets the same zip by upload.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import pytest
from PIL import Image

from cnnlab.text import ZWSP
from tests.browser import REPO, Server, open_page, screenshot, wait_idle

pytestmark = pytest.mark.browser
TRAP = "cnnlab-trap"  # a relative image URL: an unescaped name makes the browser fetch it
CLASSES = {
    "[click](javascript:alert(1))": (220, 40, 40),
    f"![t]({TRAP}.png)": (40, 200, 40),
    ":red[RED] **bold**": (40, 40, 220),
    "<b>html www.example.com": (220, 220, 40),  # no "/": it would split the folder
}
ZIP_NAME = "[z](javascript:alert(2)).zip"
IMAGE_NAME = "[f](javascript:alert(3)) :blue[x].png"
LITERALS = [":red[RED] **bold**", "[click](javascript:alert(1))"]


def square(rgb: tuple[int, int, int], i: int) -> bytes:
    image = Image.new("RGB", (16, 16), rgb)
    image.paste((255, 255, 255), (i % 12, i % 12, i % 12 + 4, i % 12 + 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def hostile_zip(per_class: int = 16) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, rgb in CLASSES.items():
            for i in range(per_class):
                zf.writestr(f"{name}/{i}.png", square(rgb, i))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hostile_run(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("hostile") / ZIP_NAME
    path.write_bytes(hostile_zip())
    env = dict(os.environ, CNNLAB_RUNS=str(server.runs_dir), PYTHONPATH=str(REPO))
    args = ["train", "--dataset", "folder", "--path", str(path), "--image-size", "16"]
    done = subprocess.run(
        [sys.executable, "-m", "cnnlab", *args, "--epochs", "2", "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return sorted(p.name for p in server.runs_dir.iterdir())[-1]


@pytest.fixture
def watched(page):  # noqa: ANN001, ANN201 - a Playwright page that records every request
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.requests = requests
    return page


def assert_plain(pg, where: str) -> None:  # noqa: ANN001
    """No hostile name became a link, a fetch or markup on the page as it is now."""
    wait_idle(pg)
    pg.wait_for_timeout(1500)  # charts and images load after the script run
    fetched = [u for u in pg.requests if TRAP in u]
    assert not fetched, f"{where}: the browser fetched {fetched}"
    hrefs = pg.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    bad = [h for h in hrefs if h.startswith("javascript") or "example.com" in h]
    assert not bad, f"{where}: links made from names: {bad}"
    bold_html = pg.locator("[data-testid=stMain] b", has_text="html").count()
    assert bold_html == 0, f"{where}: <b> in a name was rendered as markup"
    screenshot(pg, f"hostile-{where}")


def test_data_and_model_pages_show_an_uploaded_zips_names_as_text(watched, server) -> None:  # noqa: ANN001
    open_page(watched, server, "data")
    watched.get_by_role("heading", name="Data", exact=True).wait_for(timeout=120_000)
    watched.get_by_role("tab", name="Upload a zip").click()
    watched.locator("input[type=file]").set_input_files(
        {"name": ZIP_NAME, "mimeType": "application/zip", "buffer": hostile_zip()}
    )
    # The file must have reached the server (its chip is listed) before the button can use it:
    # under load a click right after choosing the file read an empty uploader.
    watched.get_by_test_id("stFileChipName").first.wait_for(timeout=60_000)
    watched.wait_for_function(  # the chip's spinner goes when the upload is complete
        "() => !document.querySelector('[data-testid=stFileChipIconSpinner]')", timeout=60_000
    )
    wait_idle(watched, 60_000)
    watched.get_by_role("button", name="Use these images").click()
    wait_idle(watched, 120_000)
    sidebar = watched.get_by_test_id("stSidebar")
    sidebar.get_by_text("your images (").wait_for(timeout=90_000)  # the stored, tidied name
    assert_plain(watched, "data")
    svg_text = " ".join(
        t or "" for t in watched.locator(".js-plotly-plot text").all_text_contents()
    )
    assert "<b>html" in svg_text  # class counts and sample titles show the characters
    open_page(watched, server, "model")
    watched.get_by_text("Built for the current dataset").wait_for(timeout=60_000)
    assert_plain(watched, "model")


@pytest.mark.parametrize("path", ["evaluate", "inspect", "runs", "train"])
def test_run_pages_show_class_names_as_text(watched, server, hostile_run, path) -> None:  # noqa: ANN001
    open_page(watched, server, path)
    wait_idle(watched, 120_000)
    if path == "evaluate":
        watched.get_by_text("Confusion matrix").wait_for(timeout=120_000)
        watched.wait_for_function(  # the confusion matrix's tick labels, drawn after the run
            """() => [...document.querySelectorAll('.js-plotly-plot text')]
                .some(t => t.textContent.includes('<b>html'))""",
            timeout=60_000,
        )
        shown = [t or "" for t in watched.locator(".js-plotly-plot text").all_text_contents()]
        ticks = " ".join(shown)
        assert "<b>html" in ticks and ":red[RED] **bold**" in ticks
        bolded = [t for t in shown if "html" in t and "<b>html" not in t]
        assert not bolded, bolded  # a label Plotly read as HTML (legend, tick or hover)
    if path == "inspect":
        watched.get_by_text("Prediction").first.wait_for(timeout=120_000)
    assert_plain(watched, path)
    body = watched.locator("[data-testid=stMain]").inner_text()
    if path in ("evaluate", "inspect"):
        assert any(name in body.replace(ZWSP, "") for name in LITERALS), body[:500]


def test_classify_shows_file_and_class_names_as_text(watched, server, hostile_run) -> None:  # noqa: ANN001
    open_page(watched, server, "classify")
    watched.get_by_role("heading", name="Classify", exact=True).wait_for(timeout=120_000)
    watched.locator("[data-testid=stFileUploaderDropzone] input[type=file]").set_input_files(
        {"name": IMAGE_NAME, "mimeType": "image/png", "buffer": square((40, 40, 220), 3)}
    )
    watched.get_by_text("→").first.wait_for(timeout=120_000)
    assert_plain(watched, "classify")
    body = watched.locator("[data-testid=stMain]").inner_text().replace(ZWSP, "")
    assert IMAGE_NAME in body
