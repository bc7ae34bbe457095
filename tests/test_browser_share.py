"""Real browser: a share link reproduces the dataset, a custom network, the hyperparameters and
the view (an Evaluate cell, the Learn tab and kernel) in a fresh browser context; a refresh keeps
them; a locked control stays locked after a reload. One short run on the 8x8 digits."""

from __future__ import annotations

import re
import time

import pytest

from cnnlab.runs import ACTIVE, list_runs
from tests.browser import Server, wait_idle
from tests.test_browser_understand import whole_page

pytestmark = pytest.mark.browser
TRAIN_BUTTON = re.compile(r"^Train\b")
DIGITS = "Digits (scikit-learn, 8x8 greyscale)"


def fresh(browser: object) -> tuple[object, object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    return context, pg


def go(pg: object, url: str) -> None:
    pg.goto(url)  # type: ignore[attr-defined]
    pg.locator("[data-testid=stMain] h1").first.wait_for()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)


def nav(pg: object, path: str) -> None:
    """Open another page in the same session (the sidebar's navigation, not a reload)."""
    pg.locator(f"[data-testid=stSidebarNav] a[href$='/{path}']").click()  # type: ignore[attr-defined]
    pg.wait_for_url(f"**/{path}*")  # type: ignore[attr-defined]  # not the old page's heading
    pg.locator("[data-testid=stMain] h1").first.wait_for()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)


def eventually(read: object, want: object, timeout_s: float = 45.0) -> object:
    """`read()` once it equals `want` (a loaded machine draws a page in several passes), else
    its last value, for the assertion to show."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = read()  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - an element not drawn yet
            got = exc
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


def value(pg: object, key: str) -> str:
    return pg.locator(f".st-key-{key} input").first.input_value()  # type: ignore[attr-defined]


def shown_option(pg: object, key: str) -> str:
    """A selectbox's shown option (its text, or its combobox input's value)."""
    box = pg.locator(f".st-key-{key}")  # type: ignore[attr-defined]
    label = box.locator("label").first.text_content()
    text = box.text_content().replace(label, "", 1).strip()
    return text or box.locator("input").first.input_value()


def choose(pg: object, key: str, option: str) -> None:
    box = pg.locator(f".st-key-{key}").get_by_role("combobox")  # type: ignore[attr-defined]
    item = pg.get_by_role("option", name=option, exact=True)  # type: ignore[attr-defined]
    for _ in range(3):  # under load the first click can land while the page still reruns
        box.click()
        try:
            item.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - a Playwright TimeoutError: open the list again
            wait_idle(pg, 60_000)
    item.click()
    wait_idle(pg, 60_000)


def set_up_everything(pg: object, server: Server) -> None:
    """Dataset, a custom network, hyperparameters (one run trained), a cell, a tab and kernel."""
    go(pg, f"{server.url}/data")
    pg.get_by_text(DIGITS).click()  # type: ignore[attr-defined]
    pg.get_by_role("button", name="Use this dataset").click()  # type: ignore[attr-defined]
    pg.locator("[data-testid=stSidebar]").get_by_text(DIGITS).wait_for()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)
    nav(pg, "model")
    pg.get_by_text("Custom", exact=True).first.click()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)
    box = pg.locator(".st-key-blk0-filters input")  # type: ignore[attr-defined]
    box.fill("12")
    box.press("Tab")
    wait_idle(pg, 60_000)
    pg.get_by_role("button", name="Use this model").click()  # type: ignore[attr-defined]
    pg.get_by_role("button", name="This is the current model").wait_for()  # type: ignore[attr-defined]
    nav(pg, "train")
    for label, typed in (("Learning rate", "0.03"), ("Epochs", "1"), ("Seed", "7")):
        field = pg.get_by_label(label, exact=True)  # type: ignore[attr-defined]
        field.fill(typed)
        field.press("Tab")
    pg.get_by_role("button", name=TRAIN_BUTTON).click()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)
    deadline = time.monotonic() + 240
    while not [r for r in list_runs(server.runs_dir) if r.status not in ACTIVE]:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.5)
    nav(pg, "evaluate")
    choose(pg, "evaluate_true", "3")
    choose(pg, "evaluate_pred", "8")
    nav(pg, "learn")
    pg.get_by_role("tab", name="2 · Activation").click()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)
    pg.get_by_role("tab", name="1 · Convolution").click()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)
    choose(pg, "learn_kernel", "blur")
    pg.get_by_role("tab", name="3 · Pooling").click()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)


def check_everything(pg: object) -> None:
    """What set_up_everything set, seen in this context (starting on the Learn page)."""
    selected = pg.locator("[data-testid=stTab][aria-selected=true]").inner_text()  # type: ignore[attr-defined]
    assert "3 · Pooling" in selected, (selected, pg.url)  # type: ignore[attr-defined]
    assert shown_option(pg, "learn_kernel") == "blur"  # in tab 1 (not the open one)
    nav(pg, "evaluate")
    assert eventually(lambda: shown_option(pg, "evaluate_true"), "3") == "3"
    assert shown_option(pg, "evaluate_pred") == "8"
    nav(pg, "model")
    assert eventually(lambda: value(pg, "blk0-filters"), "12") == "12"
    current = pg.get_by_role("button", name="This is the current model")  # type: ignore[attr-defined]
    assert eventually(current.count, 1) == 1
    nav(pg, "train")
    assert eventually(lambda: float(value(pg, "tr_lr")), 0.03) == 0.03
    assert value(pg, "tr_seed") == "7"
    assert DIGITS in pg.locator("[data-testid=stSidebar]").inner_text()  # type: ignore[attr-defined]


def test_a_link_opens_the_same_state_in_a_fresh_browser(browser, server: Server) -> None:
    context, pg = fresh(browser)
    set_up_everything(pg, server)
    link = pg.url  # type: ignore[attr-defined]
    assert "kernel=blur" in link and "net=" in link and "lr=0.03" in link, link
    shown = pg.locator("[data-testid=stPopover] button").first  # type: ignore[attr-defined]
    shown.click()
    code = pg.locator("[data-testid=stPopoverBody] [data-testid=stCode]").inner_text()  # type: ignore[attr-defined]
    assert "kernel=blur" in code and "net=" in code
    whole_page(pg, "share-link-learn")
    context.close()

    context, pg = fresh(browser)  # a fresh browser: no session, no cookie
    go(pg, link)
    check_everything(pg)
    pg.reload()  # type: ignore[attr-defined]  # a refresh on Train keeps the form and the network
    pg.locator("[data-testid=stMain] h1").first.wait_for()  # type: ignore[attr-defined]
    wait_idle(pg, 60_000)
    assert eventually(lambda: float(value(pg, "tr_lr")), 0.03) == 0.03
    assert value(pg, "tr_seed") == "7"
    nav(pg, "model")
    assert eventually(lambda: value(pg, "blk0-filters"), "12") == "12"
    context.close()

    context, pg = fresh(browser)
    train_link = link.replace("/learn?", "/train?") + "&_lock=lr,epochs&_hide=schedule"
    go(pg, train_link)
    for _ in range(2):  # as opened, then after a reload
        assert pg.get_by_label("Learning rate", exact=True).is_disabled()  # type: ignore[attr-defined]
        assert pg.get_by_label("Epochs", exact=True).is_disabled()  # type: ignore[attr-defined]
        assert not pg.get_by_label("Seed", exact=True).is_disabled()  # type: ignore[attr-defined]
        assert pg.locator(".st-key-tr_schedule").count() == 0  # type: ignore[attr-defined]
        assert pg.get_by_text("Locked by the teacher's link").count() == 1  # type: ignore[attr-defined]
        assert "_lock=lr%2Cepochs" in pg.url or "_lock=lr,epochs" in pg.url  # type: ignore[attr-defined]
        whole_page(pg, "share-train-locked")
        pg.reload()  # type: ignore[attr-defined]
        pg.locator("[data-testid=stMain] h1").first.wait_for()  # type: ignore[attr-defined]
        wait_idle(pg, 60_000)
    context.close()
