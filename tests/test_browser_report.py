"""Real browser: Evaluate's results report (opened by `?report=true`, the Learn page's link) shows
the diagnosis, its HTML download carries the page's numbers, and the downloaded file opens in
Chromium without a single request leaving it. Screenshots go to .artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest

from cnnlab.config import DataConfig, RunConfig, TrainConfig, WatchConfig
from cnnlab.runs import create_run
from cnnlab.runs.runner import execute_run
from pages.ui.lessons import LAB_QUERY, LAB_VIEWS
from pages.ui.report_view import LINK_QUERY
from tests.browser import SCREENSHOTS, Server, open_page, wait_idle
from tests.test_browser_understand import whole_page

pytestmark = pytest.mark.browser


def test_report_on_evaluate_downloads_a_self_contained_file(page, server: Server) -> None:
    assert LAB_VIEWS["report"][0] == "pages/evaluate.py" and LAB_QUERY["report"] == LINK_QUERY
    cfg = RunConfig(
        data=DataConfig(name="digits"),
        train=TrainConfig(epochs=2),
        watch=WatchConfig(snapshots=False, embedding_points=0, norms_every=0),
    )
    run = create_run(cfg, server.runs_dir)
    assert execute_run(run) == "finished"

    open_page(page, server, f"evaluate?run={run.run_id}&report=true")
    page.get_by_text("Diagnosis and next steps").wait_for(timeout=60_000)
    wait_idle(page)
    main = page.locator("[data-testid=stMain]")
    main.get_by_text("Test accuracy").first.wait_for(timeout=60_000)  # a slow machine: later
    accuracy = re.search(r"Test accuracy\s+(\d+\.\d\d%)", main.inner_text()).group(1)
    assert "Calibration" in main.inner_text() and "Next:" in main.inner_text()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stImage] img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")  # fmt: skip
    whole_page(page, "evaluate-report")

    with page.expect_download() as download:
        page.get_by_role("button", name="HTML file").click()
    path = download.value.path()
    text = path.read_text()
    assert download.value.suggested_filename == f"report-{run.run_id}.html"
    assert f"<div class='value'>{accuracy}</div>" in text  # the page's number, in the file

    viewer = page.context.new_page()
    requests: list[str] = []
    viewer.on("request", lambda r: requests.append(r.url))
    viewer.goto(path.as_uri())
    viewer.wait_for_load_state("load")
    viewer.set_content(text)  # the same document without a file URL
    viewer.wait_for_load_state("load")
    leaving = [u for u in requests if not u.startswith(("data:", "file:", "about:"))]
    assert leaving == [], leaving
    assert viewer.locator("svg").count() >= 5  # curves x2, F1, confusion, reliability
    assert viewer.locator(".thumb img").count() > 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=str(SCREENSHOTS / "report-html.png"), full_page=True)
