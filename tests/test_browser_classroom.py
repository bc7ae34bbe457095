"""A real browser, a teacher and three students on one classroom-mode server (loopback).

Students join through the join screen; identity survives a reload; a tampered cookie is refused
with the message; a student has no Stop/Rename/Delete on another's run; the queue serves two
students round-robin while the one job slot is busy; the teacher's key is in no page's HTML.
Runs are tiny and are stopped by the test as soon as they start (only the start order matters),
so the module stays well under a minute and a half.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnnlab.runs import ACTIVE, get_run, list_runs
from tests.browser import CHROMIUM, Server, screenshot, start_server, wait_idle

KEY = "browser-TEACHER-key-7q2"
CODE = "OAK42"
STUDENTS = ("Ada", "Bao", "Cleo")


def classroom_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str
) -> Iterator[Server]:
    """A server of its own in classroom mode (private runs and class folders under a fresh
    `name` folder, the class folder as `state_dir`), stopped afterwards; `settings` add env."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is absent (.ci/run installs Debian's chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    tmp = tmp_path_factory.mktemp(name)
    srv = start_server(
        tmp,
        CNNLAB_CLASSROOM="1",
        CNNLAB_TEACHER_KEY=KEY,
        CNNLAB_CLASS_CODE=CODE,
        CNNLAB_CLASSROOM_DIR=str(tmp / "classroom"),
        **settings,
    )
    srv.state_dir = tmp / "classroom"  # type: ignore[attr-defined]
    yield srv
    srv.process.terminate()
    try:
        srv.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        srv.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """This module's own server: classroom mode, one job slot, private runs and class folders."""
    yield from classroom_server(tmp_path_factory, "classroom", CNNLAB_MAX_JOBS="1")


def new_page(browser: object, server: Server, path: str = "") -> object:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(f"{server.url}/{path}")
    wait_idle(pg)
    return pg


def settle(pg: object) -> None:
    """Before a screenshot: no element is still a loading skeleton."""
    pg.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=30_000
    )
    wait_idle(pg)


def assert_no_key(pg: object) -> None:
    assert KEY not in pg.content()  # type: ignore[attr-defined]
    assert KEY not in pg.url  # type: ignore[attr-defined]


def join_as(pg: object, name: str) -> None:
    pg.get_by_label("Your name").fill(name)  # type: ignore[attr-defined]
    pg.get_by_label("Class code").fill(CODE.lower())  # type: ignore[attr-defined]
    pg.get_by_role("button", name="Join").click()  # type: ignore[attr-defined]
    sidebar(pg).get_by_role("button", name="Sign out").wait_for()
    wait_idle(pg)


def teacher_sign_in(pg: object) -> None:
    """Open the "Teacher sign-in" expander and sign in. A click that lands while the join
    screen's first run is still being drawn can be undone by it (seen once in a full suite
    under load): as a person would, click the heading again until the field shows."""
    field = pg.get_by_label("Teacher key")  # type: ignore[attr-defined]
    for _ in range(3):
        if not field.is_visible():
            pg.get_by_text("Teacher sign-in").click()  # type: ignore[attr-defined]
        try:
            field.wait_for(state="visible", timeout=10_000)
            break
        except Exception:  # a Playwright TimeoutError: still folded
            continue
    field.fill(KEY)
    pg.get_by_role("button", name="Sign in as the teacher").click()  # type: ignore[attr-defined]
    sidebar(pg).get_by_role("button", name="Sign out").wait_for()
    wait_idle(pg)


def sidebar(pg: object) -> object:
    return pg.locator("[data-testid='stSidebar']")  # type: ignore[attr-defined]


def use_digits(pg: object) -> None:
    """On the Data page, pick the digits set (8x8: its runs start and end in a second or two),
    then open Train."""
    pg.get_by_text("Digits (scikit-learn, 8x8 greyscale)").click()  # type: ignore[attr-defined]
    pg.get_by_role("button", name="Use this dataset").click()  # type: ignore[attr-defined]
    sidebar(pg).get_by_text("Digits (scikit-learn").wait_for()
    sidebar(pg).get_by_role("link", name="Train").click()
    pg.get_by_text("Watch a run").wait_for()  # type: ignore[attr-defined]
    wait_idle(pg)


def train(pg: object, server: Server, epochs: int) -> str:
    """Press Train on the Train page with `epochs`; the new run's id (from the run folders)."""
    before = {r.run_id for r in list_runs(server.runs_dir)}
    field = pg.get_by_label("Epochs", exact=True)  # type: ignore[attr-defined]
    field.fill(str(epochs))
    field.press("Tab")
    pg.locator(".st-key-train_submit button").click()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = {r.run_id for r in list_runs(server.runs_dir)} - before
        if new:
            wait_idle(pg)  # the page answers the press (a press before that joins its burst)
            return new.pop()
        time.sleep(0.1)
    raise AssertionError("pressing Train made no run")


def start_order(server: Server, run_ids: list[str], timeout_s: float = 120) -> list[str]:
    """Stop each run as soon as it starts (a stop flag in its folder) and return the order in
    which they started."""
    order: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(order) < len(run_ids) and time.monotonic() < deadline:
        for run_id in run_ids:
            run = get_run(run_id, server.runs_dir)
            if run_id not in order and run.status().started is not None:
                order.append(run_id)
                run.request_stop()
        time.sleep(0.05)
    assert len(order) == len(run_ids), f"only {order} of {run_ids} started in {timeout_s} s"
    return order


def test_a_teacher_and_three_students(browser: object, server: Server) -> None:
    # -- joining: the join screen, the teacher's key, three students --------------------------
    teacher = new_page(browser, server)
    teacher.get_by_label("Your name").wait_for()
    settle(teacher)
    screenshot(teacher, "classroom_join")
    assert_no_key(teacher)
    teacher_sign_in(teacher)
    sidebar(teacher).get_by_text(CODE).wait_for()  # the class code, in large type
    assert_no_key(teacher)
    settle(teacher)
    screenshot(teacher, "classroom_sidebar_teacher")
    pages = {}
    for name in STUDENTS:
        pages[name] = pg = new_page(browser, server, "data")
        join_as(pg, name)
        sidebar(pg).get_by_text(name, exact=True).wait_for()
        assert CODE not in sidebar(pg).inner_text()  # the code is the teacher's to show
    ada, bao, cleo = (pages[n] for n in STUDENTS)
    assert "/data" in ada.url  # the link's page, kept through the join screen
    settle(ada)
    screenshot(ada, "classroom_sidebar_student")

    # -- identity survives a reload; a tampered cookie is refused --------------------------------
    ada.reload()
    wait_idle(ada)
    sidebar(ada).get_by_text("Ada", exact=True).wait_for()
    [cookie] = [c for c in ada.context.cookies() if c["name"] == "cnnlab_identity"]
    assert cookie["sameSite"] == "Strict" and cookie["expires"] > time.time() + 29 * 86400
    body, mac = cookie["value"].split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    intruder = browser.new_context()  # type: ignore[attr-defined]
    intruder.add_cookies(
        [{"name": "cnnlab_identity", "value": f"{forged}.{mac}", "url": server.url}]
    )
    pg = intruder.new_page()
    pg.goto(server.url)
    pg.get_by_text("join the class").wait_for(timeout=30_000)
    pg.get_by_text("join again").first.wait_for(timeout=30_000)  # the refusal's message
    assert "Ada" not in sidebar(pg).all_inner_texts()
    intruder.close()

    # -- the fair queue: one slot busy, two students queue two runs each -------------------------
    use_digits(ada)
    use_digits(bao)
    teacher.goto(f"{server.url}/data")
    wait_idle(teacher)
    use_digits(teacher)
    busy = train(teacher, server, 30)  # holds the one job slot until the test stops it
    ada_1 = train(ada, server, 1)
    ada_2 = train(ada, server, 2)
    bao_1 = train(bao, server, 1)
    bao_2 = train(bao, server, 2)
    bao.get_by_text("in the queue").first.wait_for()  # her place and expected start, on screen
    settle(bao)
    screenshot(bao, "classroom_queued_student")
    get_run(busy, server.runs_dir).request_stop()
    order = start_order(server, [ada_1, ada_2, bao_1, bao_2])
    assert order == [ada_1, bao_1, ada_2, bao_2], "not round-robin"
    owners = {r.run_id: r.owner.name for r in list_runs(server.runs_dir)}
    assert owners[ada_1] == "Ada" and owners[bao_2] == "Bao"

    # -- a student cannot stop, rename or delete another's run -----------------------------------
    cleo.goto(f"{server.url}/runs")
    wait_idle(cleo)
    cleo.get_by_text("No runs here yet").wait_for()  # Cleo's own: none (Mine is the default)
    cleo.locator(".st-key-runs_filter").get_by_text("All", exact=True).click()
    wait_idle(cleo)
    cleo.get_by_text("'s run: only they or the teacher").first.wait_for()
    for label in ("Stop", "Resume", "Rename", "Delete"):
        assert cleo.locator("[data-testid='stMain']").get_by_role("button", name=label).count() == 0
    assert_no_key(cleo)
    ada.goto(f"{server.url}/runs")
    wait_idle(ada)
    ada.get_by_role("button", name="Rename").wait_for()  # her own newest run: she may
    settle(ada)
    screenshot(ada, "classroom_runs_student")
    teacher.goto(f"{server.url}/runs")
    wait_idle(teacher)
    teacher.get_by_role("button", name="Delete").wait_for()  # the teacher may, on anyone's run
    teacher.get_by_text("5 saved runs").wait_for()  # the class's runs: the teacher's default
    settle(teacher)
    screenshot(teacher, "classroom_runs_teacher")
    assert_no_key(teacher)
    deadline = time.monotonic() + 30  # let the stopped runs end before the server goes
    while any(r.status in ACTIVE for r in list_runs(server.runs_dir)):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for pg in pages.values():
        pg.context.close()
    teacher.context.close()
    assert not list(Path(server.runs_dir).rglob("*")) or all(
        KEY not in p.read_text(errors="ignore") for p in Path(server.runs_dir).rglob("*.json")
    )
