"""Load and sessions: many browser sessions at once on one server, memory across many sessions,
and session state that holds only small things.

Real-browser tests (one Chromium, one *context* per Streamlit session, loopback only) against the
module's own server (tests/browser.py), which trains two runs at once (`CNNLAB_MAX_JOBS=2`, as a
teacher's server might) so "two runs train while more are queued" happens on a 2-core box too.
`CNNLAB_LOAD_SESSIONS` (default 10, at least 6: one picks a dataset, one a model, four press
Train) sessions are open at once; `CNNLAB_MEMORY_SESSIONS` (default 15) are opened and closed for
the memory check. Latencies and memory figures are printed (`pytest -s`); following the project's
rule of no timed assertions (CI boxes are noisy), only bounds that catch a hang or a real leak are
asserted, and the measured latencies are recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import re
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab import cli
from cnnlab.config import DataConfig
from cnnlab.runs import ACTIVE, list_runs
from pages.ui.common import data_label
from tests.browser import Server, rss_mb, screenshot

TRAIN_BUTTON = re.compile(r"^Train\b")  # its name also holds the shortcut (Ctrl + Enter)

SERVER_SETTINGS = {"CNNLAB_MAX_JOBS": "2"}  # read by tests/browser.py's server fixture
SESSIONS = max(6, int(os.environ.get("CNNLAB_LOAD_SESSIONS", "10")))
ROUNDS = int(os.environ.get("CNNLAB_LOAD_ROUNDS", "4"))  # pages each browsing session visits
MEMORY_SESSIONS = int(os.environ.get("CNNLAB_MEMORY_SESSIONS", "15"))
HANG_S = 120  # an interaction slower than this is a hang, not load (not a latency target)
# One of 6 simultaneous uploads once went unanswered for 120 s on a loaded CI box (the page
# showed no file chip): as a user would, the test drops the file again, once, and says so.
UPLOAD_AGAIN_S = 45
PRESS_AGAIN_S = 30  # the same for a Train press that made no run
LEAK_MB_PER_SESSION = 10  # a third of the perf target (30 MB); measured ~1 MB, noise included

PAGE_FILES: dict[str, str] = {}  # url path -> pages/<file>.py where they differ (none now)
HEADINGS = {  # url path -> the page's title
    "": "cnnlab",
    "data": "Data",
    "model": "Model",
    "train": "Train",
    "runs": "Runs",
    "evaluate": "Evaluate",
    "inspect": "Inspect",
    "classify": "Classify",
    "learn": "Learn: how a CNN works",
}
BROWSE = ["data", "model", "runs", "evaluate", "classify", "learn", "inspect", ""]

# Installed in every page: __watch(cond) records, in the page's own clock, when `cond` first holds
# after now, so concurrent interactions are timed exactly though Python waits for them in turn.
WATCH = """
window.__idle = () => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
    && !document.querySelector('[data-testid="stMain"] [data-stale="true"]');
window.__heading = (text) => [...document.querySelectorAll('[data-testid="stMain"] h1')]
    .some(h => h.textContent.trim() === text);
window.__watch = (cond) => {
    const t0 = performance.now();
    const check = new Function('return (' + cond + ')');
    window.__lat = null;
    const tick = () => {
        let ok = false;
        try { ok = check(); } catch (e) { ok = false; }
        if (ok) { window.__lat = performance.now() - t0; } else { setTimeout(tick, 10); }
    };
    setTimeout(tick, 10);
};
"""
PROBLEMS = """() => [...document.querySelectorAll(
    '[data-testid="stException"], [data-testid="stAlertContentError"], [data-testid="stToast"]')]
    .map(e => e.innerText.slice(0, 300))
    .filter(t => !t.includes('Stopping…') && !t.includes('Removed from the queue'))"""
# ^ the two toasts confirming a Stop (pages/ui/run_status.stop_run) are not problems; one still on
#   screen when the last check runs failed this test whenever the final stops took under ~4 s


def page_done(heading: str) -> str:
    return f"window.__heading({heading!r}) && window.__idle()"


# -- helpers --------------------------------------------------------------------------------------
class Session:
    """One browser context = one Streamlit session."""

    def __init__(self, browser: object, server: Server, name: str) -> None:
        self.name = name
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.page.set_default_timeout(HANG_S * 1000)
        self.server = server
        self.path: str | None = None  # the page it is on
        self.waiting = ""

    def open(self, path: str = "") -> float:
        """Load the app at `path` (a new page load); seconds until its script run is over."""
        start = time.monotonic()
        self.page.goto(f"{self.server.url}/{path}")
        self.path = path
        self.page.wait_for_function(f"() => {page_done(HEADINGS[path])}", timeout=HANG_S * 1000)
        return time.monotonic() - start

    def start(self, cond: str, what: str = "") -> None:
        self.waiting = what or cond
        self.page.evaluate(f"() => window.__watch({cond!r})")

    def click_nav(self, path: str) -> None:
        """Start timing, then click the sidebar link to `path` (no page load, like a user)."""
        assert path != self.path, "a click on the current page's link would time nothing"
        self.start(page_done(HEADINGS[path]), f"the {path or 'home'} page")
        self.path = path
        href = f"{self.server.url}/{path}"
        self.page.locator(f'[data-testid="stSidebarNav"] a[href="{href}"]').click()

    def latency(self, hang_s: float = HANG_S) -> float:
        """Seconds from the last start() to its condition (waits up to `hang_s`)."""
        try:
            self.page.wait_for_function("() => window.__lat !== null", timeout=hang_s * 1000)
        except Exception as exc:  # a Playwright TimeoutError: say what hung, keep a picture
            shot = screenshot(self.page, f"load-{self.name}-no-answer")
            raise AssertionError(
                f"{self.name}: no answer in {hang_s} s: {self.waiting} (screenshot {shot}); "
                f"the page showed: {self.main()[:400]!r}"
            ) from exc
        return self.page.evaluate("() => window.__lat") / 1000

    def problems(self) -> list[str]:
        return self.page.evaluate(PROBLEMS)

    def sidebar(self) -> str:
        return self.page.get_by_test_id("stSidebar").inner_text()

    def main(self) -> str:
        return self.page.get_by_test_id("stMain").inner_text()

    def close(self) -> None:
        self.context.close()


def digit_png() -> bytes:
    """A white-on-black "1" drawn large (any prediction will do; this checks the page answers)."""
    img = np.zeros((64, 64), np.uint8)
    img[8:56, 28:36] = 255
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="PNG")
    return buffer.getvalue()


def next_page(current: str | None, k: int) -> str:
    """The k-th page of BROWSE, skipping the one the session is on."""
    pages = [p for p in BROWSE if p != current]
    return pages[k % len(pages)]


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name}: n={len(values)} p50={statistics.median(values):.2f}s p95={p95:.2f}s "
        f"max={max(values):.2f}s"
    )


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except OSError:  # ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_by_role(server: Server) -> dict[str, float]:
    """CPU seconds used so far by the Streamlit server, its training jobs and Chromium (printed
    to show where a 2-core box's time goes when the browsers run on the server's own cores)."""
    roles = {"server": _cpu_s(server.process.pid), "training jobs": 0.0, "chromium": 0.0}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"-m\x00cnnlab" in cmdline:
            roles["training jobs"] += _cpu_s(int(proc.name))
        elif b"chrom" in cmdline.split(b"\x00")[0]:
            roles["chromium"] += _cpu_s(int(proc.name))
    return roles


def statuses(server: Server) -> dict[str, str]:
    return {r.run_id: r.status for r in list_runs(server.runs_dir)}


def wait_status(server: Server, run_id: str, wanted: tuple[str, ...], timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = statuses(server).get(run_id)
        if status in wanted:
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} stayed {statuses(server).get(run_id)}, not {wanted}")


@pytest.fixture(scope="module")
def finished_run(server: Server) -> str:
    """One finished digits run in the server's runs folder (the server lists runs from disk)."""
    args = ["--runs-dir", str(server.runs_dir), "train", "--dataset", "digits", "--epochs", "1"]
    assert cli.main([*args, "--threads", "1", "--quiet"]) == cli.EXIT_OK
    (run_id,) = statuses(server)
    return run_id


@pytest.fixture
def sessions(browser: object, server: Server) -> Iterator[list[Session]]:
    opened: list[Session] = []
    yield opened
    for s in opened:
        s.close()


# -- memory ---------------------------------------------------------------------------------------
@pytest.mark.browser
def test_memory_stays_bounded_across_many_sessions_opened_and_closed(browser, server) -> None:  # noqa: ANN001
    """Sessions that load Data and Learn, then close: the server's RSS grows by far less than the
    perf target of 30 MB per session (datasets and models are shared, session state is small)."""

    def visit(i: int) -> None:
        s = Session(browser, server, f"mem{i}")
        try:
            s.open("data")
            s.click_nav("learn")
            s.latency()
            assert not s.problems(), s.problems()
        finally:
            s.close()

    pid = server.process.pid
    for i in range(3):  # warm-up: imports, the shapes dataset, the Learn page's caches
        visit(i)
    time.sleep(1)
    before = rss_mb(pid)
    start = time.monotonic()
    for i in range(MEMORY_SESSIONS):
        visit(100 + i)
    took = time.monotonic() - start
    time.sleep(1)
    after = rss_mb(pid)
    per_session = (after - before) / MEMORY_SESSIONS
    print(
        f"\nserver RSS: {before:.0f} MB after warm-up, {after:.0f} MB after {MEMORY_SESSIONS} more "
        f"sessions (Data + Learn, then closed) in {took:.0f} s: {per_session:+.2f} MB per session"
    )
    assert per_session < LEAK_MB_PER_SESSION


# -- many sessions at once ------------------------------------------------------------------------
@pytest.mark.browser
def test_sessions_browse_and_classify_while_runs_train_and_queue(  # noqa: PLR0915
    browser,
    server,
    finished_run,
    sessions,  # noqa: ANN001
) -> None:
    t_test = time.monotonic()
    for i in range(SESSIONS):
        sessions.append(Session(browser, server, f"s{i}"))
    first_loads = [s.open("") for s in sessions]
    lat: dict[str, list[float]] = {}
    try:
        scenario(server, sessions, lat)
    finally:
        report(t_test, first_loads, lat)


def scenario(server: Server, sessions: list[Session], lat: dict[str, list[float]]) -> None:  # noqa: PLR0915
    """Selections, three Train presses, concurrent browsing and classifying, the queue order."""
    chooser, editor, trainers = sessions[0], sessions[1], sessions[2:6]
    browsers = [s for s in sessions if s not in trainers]

    def record(kind: str, seconds: float) -> None:
        lat.setdefault(kind, []).append(seconds)

    def check_no_problems(group: list[Session]) -> None:
        for s in group:
            assert not s.problems(), (s.name, s.problems())

    # Session selections: s0 picks digits, s1 makes a custom network the current model.
    default_data = data_label(DataConfig())
    chooser.click_nav("data")
    record("page", chooser.latency())
    chooser.page.get_by_text("Digits (scikit-learn, 8x8 greyscale)").click()
    chooser.start(
        "window.__idle() && document.querySelector('[data-testid=stSidebar]')"
        ".innerText.includes('Digits')"
    )
    chooser.page.get_by_role("button", name="Use this dataset").click()
    record("action", chooser.latency())
    editor.click_nav("model")
    record("page", editor.latency())
    editor.page.get_by_text("Custom", exact=True).click()
    editor.page.get_by_role("button", name="Use this model").wait_for()
    editor.start(
        "window.__idle() && document.querySelector('[data-testid=stSidebar]')"
        ".innerText.includes('custom (')"
    )
    editor.page.get_by_role("button", name="Use this model").click()
    record("action", editor.latency())

    # Four sessions press Train (shapes, 500 epochs: still training when the test stops them).
    run_ids = [press_train(s, server, record) for s in trainers]
    first, second, third, fourth = run_ids
    for run_id in (first, second):
        wait_status(server, run_id, ("running",))
    assert statuses(server)[third] == statuses(server)[fourth] == "queued"
    trainers[2].page.get_by_text("1st in the queue").first.wait_for()
    trainers[3].page.get_by_text("2nd in the queue").first.wait_for()

    # Everyone else browses every page, all sessions clicking at once, while two runs train.
    cpu_before, t_before = cpu_by_role(server), time.monotonic()
    for r in range(ROUNDS):
        targets = [next_page(s.path, i + r) for i, s in enumerate(browsers)]
        for s, path in zip(browsers, targets, strict=True):
            s.click_nav(path)
        for s, path in zip(browsers, targets, strict=True):
            record(path or "home", s.latency())
        check_no_problems(sessions)
    assert statuses(server)[first] == statuses(server)[second] == "running"  # throughout
    cpu_after, wall = cpu_by_role(server), time.monotonic() - t_before
    print(
        f"\nCPU while browsing ({wall:.0f} s wall, 2 cores = {2 * wall:.0f} CPU s): "
        + ", ".join(f"{k} {cpu_after[k] - cpu_before.get(k, 0):.0f} s" for k in cpu_after)
    )

    # ... then all classify an uploaded PNG at once (the finished digits run's model).
    for s in browsers:
        if s.path != "classify":
            s.click_nav("classify")
            record("classify", s.latency())
    png = {"name": "one.png", "mimeType": "image/png", "buffer": digit_png()}
    answered = (
        "window.__idle() && document.querySelector('[data-testid=stMain]')"
        ".innerText.includes('as the network sees it')"
    )
    for s in browsers:
        s.start(answered)
        s.page.locator("input[type=file]").set_input_files(png)
    for s in browsers:
        try:
            record("classify upload", s.latency(UPLOAD_AGAIN_S))
        except AssertionError as unanswered:
            print(f"\n{unanswered}\n{s.name}: the file is dropped again")
            s.start(answered)
            s.page.locator("input[type=file]").set_input_files(png)
            record("classify upload, dropped again", s.latency())
        assert "one.png" in s.main()
    check_no_problems(sessions)

    # Selections never leak: after all that re-rendering, each sidebar shows its own session's.
    for s in sessions:  # the sidebar's setup is drawn after the page: wait for a rerun to end
        s.page.get_by_test_id("stSidebar").get_by_text("Current setup").wait_for()
        side = s.sidebar()
        assert ("Digits" in side) == (s is chooser), (s.name, side)
        assert (default_data in side) == (s is not chooser), (s.name, side)
        assert ("custom (" in side) == (s is editor), (s.name, side)

    # The queue holds its order: stopping the first starts the third; the fourth still waits.
    stop(trainers[0], first, server)
    wait_status(server, third, ("running",))
    assert statuses(server)[fourth] == "queued"
    assert statuses(server)[second] == "running"
    trainers[3].page.get_by_text("1st in the queue").first.wait_for()
    stop(trainers[3], fourth, server, queued=True)  # a queued run can be cancelled
    stop(trainers[2], third, server)
    stop(trainers[1], second, server)
    assert not [r for r, st in statuses(server).items() if st in ACTIVE]
    check_no_problems(sessions)

    interactions = [v for vs in lat.values() for v in vs]
    assert max(interactions) < HANG_S


def wait_new_run(server: Server, known: set[str], seconds: float) -> bool:
    """True once a run not in `known` is on disk (polls up to `seconds`)."""
    deadline = time.monotonic() + seconds
    while not set(statuses(server)) - known:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def press_train(s: Session, server: Server, record: Callable[[str, float], None]) -> str:
    """Open Train in session `s`, set 500 epochs, press Train; the new run's id (found on disk:
    the page may already show another session's queued run)."""
    s.click_nav("train")
    record("page", s.latency())
    epochs = s.page.get_by_label("Epochs", exact=True)
    epochs.fill("500")
    epochs.press("Tab")
    patience = s.page.get_by_label("Early stopping", exact=True)
    patience.fill("0")  # off: the runs train until the test stops them
    patience.press("Tab")
    known = set(statuses(server))
    s.page.wait_for_function("() => window.__idle()")  # the fields' reruns are over
    s.start("window.__idle()", "the Train page after pressing Train")
    s.page.get_by_role("button", name=TRAIN_BUTTON).click()
    record("action", s.latency())
    if not wait_new_run(server, known, PRESS_AGAIN_S):  # seen once in a full suite under load
        print(f"\n{s.name}: no run {PRESS_AGAIN_S} s after Train; the page: {s.main()[:400]!r}")
        s.page.get_by_role("button", name=TRAIN_BUTTON).click()  # as a person would
        wait_new_run(server, known, HANG_S)
    (new,) = set(statuses(server)) - known
    return new


def stop(s: Session, run_id: str, server: Server, *, queued: bool = False) -> None:
    """Press the run's Stop (or, queued, "Remove from the queue") button in session `s` and wait
    until the run is stopped on disk."""
    key = f"unqueue_{run_id}" if queued else f"stop_{run_id}"
    button = s.page.locator(f".st-key-{key} button").first
    try:
        button.wait_for(timeout=HANG_S * 1000)
    except Exception as exc:  # a Playwright TimeoutError
        shot = screenshot(s.page, f"load-{s.name}-no-stop-button")
        raise AssertionError(f"{s.name}: no Stop button for {run_id} (screenshot {shot})") from exc
    button.click()
    wait_status(server, run_id, ("stopped",))


def report(t_test: float, first_loads: list[float], lat: dict[str, list[float]]) -> None:
    interactions = [v for vs in lat.values() for v in vs]
    print(
        f"\n{SESSIONS} sessions, {ROUNDS} browsing rounds, {len(interactions)} timed "
        f"interactions, {time.monotonic() - t_test:.0f} s in all"
    )
    print(summary("first page load (goto)", first_loads))
    print(summary("all interactions", interactions))
    for kind, values in sorted(lat.items()):
        print("  " + summary(kind, values))


# -- session state holds small things only --------------------------------------------------------
def test_session_state_holds_no_tensors_or_large_objects_after_every_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from streamlit.testing.v1 import AppTest

    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "train", "--dataset", "digits", "--epochs", "1"]
    assert cli.main([*args, "--threads", "1", "--quiet"]) == cli.EXIT_OK
    monkeypatch.setenv("CNNLAB_RUNS", str(runs))

    app = Path(__file__).resolve().parent.parent / "app.py"
    at = AppTest.from_file(str(app), default_timeout=120)
    at.run()

    def walk(value: object, where: str) -> None:
        assert not isinstance(value, torch.Tensor | torch.nn.Module | np.ndarray), where
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}[{k!r}]")
        elif isinstance(value, list | tuple | set | frozenset):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name), f"{where}.{f.name}")

    def check_state(page: str) -> None:
        """Widgets of a page leave the state with the page: check while each page is shown."""
        state = at.session_state.to_dict()
        assert {"data_cfg", "model_cfg", "run_id"} <= set(state), (page, sorted(state))
        for key, value in state.items():
            walk(value, f"{page}: {key}")
            size = len(pickle.dumps(value))
            assert size < 100_000, f"{page}: session_state[{key!r}] pickles to {size:,} bytes"

    for path in [p for p in HEADINGS if p] + [""]:
        at.switch_page(f"pages/{PAGE_FILES.get(path, path or 'home')}.py").run()
        assert not at.exception, (path, [e.value for e in at.exception])
        if path == "data":  # a selection, so the state holds a non-default config too
            at.radio(key="dataset_name").set_value("digits")
            at.form_submit_button[0].click().run()
            assert at.session_state.data_cfg.name == "digits"
        check_state(path or "home")
