"""A class on one server: N students (default 30) join, browse, pick a dataset and queue tiny runs
while the projector view is open; then everyone watches the leaderboard.

    .venv/bin/python bench/bench_classroom.py [--students 30] [--watch-s 20] [--queue-s 240]

Real Streamlit sessions: one headless Chromium (Debian's /usr/bin/chromium), one browser context
per student, logged in by the `cnnlab_identity` cookie (a token from `join`), on a private server
on loopback in classroom mode (`CNNLAB_MAX_JOBS=1`: a queue forms). Bounded: each interaction
at most HANG_S, the watching `--watch-s`, the queue's draining (the class gone, the projector
open) `--queue-s`; then the server is stopped (its jobs with it) and its folder removed.
Chromium runs on the server's cores: on a small box the browsers, not the server, set the
latencies (the server's own CPU per interaction is the figure to size a machine with).

Measured: every interaction's latency (the page's own clock, click -> script run over), the
server process's CPU seconds (utime+stime from /proc) per phase, errors on any page, and the
fair order: in the order the runs started, a run "jumps the queue" when its owner had already
had more runs started than another student who was waiting at that moment (round-robin: 0).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

KEY, SECRET = "bench-teacher-key-0123456789", "bench-secret-" + "x" * 20
ENV = {"CNNLAB_CLASSROOM": "1", "CNNLAB_TEACHER_KEY": KEY, "CNNLAB_CLASSROOM_SECRET": SECRET,
       "CNNLAB_MAX_JOBS": "1"}  # fmt: skip
TRAIN_BUTTON = re.compile(r"^Train\b")  # its name also holds the shortcut
HANG_S = 180  # an interaction slower than this is a hang (the benchmark stops and says so)
WATCH = """
window.__idle = () => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
    && !document.querySelector('[data-testid="stMain"] [data-stale="true"]');
window.__heading = (t) => [...document.querySelectorAll('[data-testid="stMain"] h1')]
    .some(h => h.textContent.trim() === t);
window.__busy = () => !window.__idle();
window.__watch = (cond) => {  // cond may use `seen`: the script run started (or 3 s passed)
    const t0 = performance.now(), check = new Function('seen', 'return (' + cond + ')');
    let seen = false;
    window.__lat = null;
    const tick = () => { let ok = false;
        seen = seen || window.__busy() || performance.now() - t0 > 3000;
        try { ok = check(seen); } catch (e) {}
        if (ok) { window.__lat = performance.now() - t0; } else { setTimeout(tick, 5); } };
    setTimeout(tick, 0);
};
// A page load is timed from the navigation's start (performance.now() = 0) to the app drawn.
window.__loaded = null;
(function wait() {
    const ok = document.querySelector('[data-testid="stSidebarNav"]') && window.__idle()
        && document.querySelector('[data-testid="stMain"] h1');
    if (ok) { window.__loaded = performance.now(); } else { setTimeout(wait, 10); }
})();
"""
PROBLEMS = """() => [...document.querySelectorAll(
    '[data-testid="stException"], [data-testid="stAlertContentError"]')]
    .map(e => e.innerText.slice(0, 200))"""
HEADINGS = {"data": "Data", "train": "Train", "runs": "Runs", "leaderboard": "Leaderboard"}


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Student:
    """One browser context = one Streamlit session, signed in by cookie."""

    def __init__(self, browser: object, url: str, name: str, token: str) -> None:
        self.name, self.url = name, url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        self.context.add_cookies([{"name": "cnnlab_identity", "value": token, "url": url}])
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.page.set_default_timeout(HANG_S * 1000)

    def start(self, cond: str) -> None:
        self.page.evaluate(f"() => window.__watch({cond!r})")

    def nav(self, path: str) -> None:
        """Click the sidebar link to `path` (timed until its page's script run is over)."""
        self.start(f"window.__heading({HEADINGS[path]!r}) && window.__idle()")
        self.page.locator(f'[data-testid="stSidebarNav"] a[href="{self.url}/{path}"]').click()

    def latency(self, var: str = "__lat") -> float:
        """Seconds the last timed interaction took (`__loaded`: the last page load)."""
        self.page.wait_for_function(
            f"() => typeof window.{var} === 'number'", timeout=HANG_S * 1000
        )
        return self.page.evaluate(f"() => window.{var}") / 1000

    def problems(self) -> list[str]:
        return self.page.evaluate(PROBLEMS)


def wave(
    students: list[Student],
    act: Callable[[Student], None],
    kind: str,
    lat: dict,
    var: str = "__lat",
) -> None:
    """Every student does `act` (all in flight at once), then each one's latency is collected."""
    for s in students:
        act(s)
    for s in students:
        lat.setdefault(kind, []).append(s.latency(var))


def use_digits(s: Student) -> None:
    s.page.get_by_text("Digits (scikit-learn, 8x8 greyscale)").click()
    s.start("seen && window.__idle() && document.querySelector('[data-testid=stSidebar]')"
            ".innerText.includes('Digits')")  # fmt: skip
    s.page.get_by_role("button", name="Use this dataset").click()


def press_train(s: Student, epochs: int = 1) -> None:
    """Set `epochs` and press Train (a second run differs: the form refuses a repeat press)."""
    field = s.page.get_by_label("Epochs", exact=True)
    field.fill(str(epochs))
    field.press("Tab")
    s.page.wait_for_function("() => window.__idle()")
    s.start("seen && window.__idle()")  # the click's script run has started and ended
    s.page.get_by_role("button", name=TRAIN_BUTTON).click()


def open_home(s: Student) -> None:
    s.page.goto(s.url, wait_until="commit")  # timed by the page itself (`__loaded`)


def session_phase(students: list[Student], lat: dict) -> list[str]:
    """Join (page load), Data -> digits, Train -> 1 epoch -> Train (odd students twice), Runs,
    Leaderboard: each step by every student at once. Returns the problems seen on any page."""
    wave(students, open_home, "first page load (join by cookie)", lat, "__loaded")
    wave(students, lambda s: s.nav("data"), "page", lat)
    wave(students, use_digits, "action", lat)
    wave(students, lambda s: s.nav("train"), "page", lat)
    wave(students, press_train, "Train pressed", lat)
    wave(students[1::2], lambda s: press_train(s, 2), "Train pressed", lat)
    wave(students, lambda s: s.nav("runs"), "page", lat)
    wave(students, lambda s: s.nav("leaderboard"), "page", lat)
    return [f"{s.name}: {p}" for s in students for p in s.problems()]


def fairness(runs_dir: Path) -> tuple[int, int, int]:
    """(runs started, runs in all, queue jumps) from the run folders (see the module docstring)."""
    from cnnlab.runs import get_run, list_runs

    rows = []
    for info in list_runs(runs_dir):
        status = get_run(info.run_id, runs_dir).status()
        rows.append((info.owner.user_id, status.created or 0.0, status.started))
    started = sorted((r for r in rows if r[2] is not None), key=lambda r: r[2])
    jumps, served = 0, {}
    for owner, _, at in started:
        waiting = {o for o, created, s in rows if created < at and (s is None or s >= at)}
        fewest = min((served.get(o, 0) for o in waiting), default=0)
        jumps += served.get(owner, 0) > fewest
        served[owner] = served.get(owner, 0) + 1
    return len(started), len(rows), jumps


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(lat: dict, cpu: dict, fair: tuple[int, int, int], problems: list[str], n: int) -> None:
    print(f"\n{n} students + the projector view, one server, CNNLAB_MAX_JOBS=1\n")
    print("| interaction | n | p50 s | p95 s | max s |")
    print("|---|---|---|---|---|")
    for kind, values in lat.items():
        print(f"| {kind} | {len(values)} | {statistics.median(values):.2f} | "
              f"{pct(values, 0.95):.2f} | {max(values):.2f} |")  # fmt: skip
    interactions = sum(len(v) for k, v in lat.items())
    busy, watch_s, watch_cpu = cpu["sessions"], cpu["watch_s"], cpu["watch"]
    print(f"\nserver CPU, sessions phase: {busy:.1f} s in {cpu['sessions_s']:.0f} s for "
          f"{interactions} interactions = {busy / interactions:.3f} s per interaction")  # fmt: skip
    print(f"server CPU, {n} leaderboards + projector refreshing (2 s) while runs train: "
          f"{watch_cpu / watch_s:.2f} cores ({watch_s:.0f} s)")  # fmt: skip
    print(f"server CPU, the projector alone while the queue drains: "
          f"{cpu['queue'] / cpu['queue_s']:.2f} cores ({cpu['queue_s']:.0f} s)")  # fmt: skip
    started, total, jumps = fair
    print(f"fair order: {started} of {total} runs started, {jumps} queue jumps (round-robin: 0)")
    print(f"errors on pages: {len(problems)}" + "".join(f"\n  {p}" for p in problems[:10]))
    # A lesson's busiest minute: every student does ~4 interactions (a page, a change, Train).
    per_min = n * 4 * busy / interactions / 60
    print(f"\ncores for serving a class of {n}: ~{per_min + watch_cpu / watch_s:.2f} (a busy minute"
          f" of 4 interactions per student {per_min:.2f} + watching {watch_cpu / watch_s:.2f}),"
          " plus one core per training job")  # fmt: skip


def run(args: argparse.Namespace, tmp: Path) -> None:
    from playwright.sync_api import sync_playwright

    os.environ.update(ENV, CNNLAB_RUNS=str(tmp / "runs"), CNNLAB_CLASSROOM_DIR=str(tmp / "class"))
    from cnnlab.classroom.identity import issue_token, join
    from cnnlab.classroom.settings import load_settings
    from tests.browser import CHROMIUM, CHROMIUM_ARGS, start_server

    settings = load_settings()
    tokens = {f"Student {i:02d}": issue_token(join(f"Student {i:02d}", settings.class_code,
              settings), settings) for i in range(args.students)}  # fmt: skip
    server = start_server(tmp, **ENV, CNNLAB_CLASSROOM_DIR=str(tmp / "class"))
    lat: dict[str, list[float]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            from cnnlab.classroom.identity import teacher_sign_in

            teacher = issue_token(teacher_sign_in(KEY, settings), settings)
            projector = Student(browser, server.url, "projector", teacher)
            projector.page.set_viewport_size({"width": 1920, "height": 1080})
            projector.page.goto(f"{server.url}/projector")
            projector.page.wait_for_selector(".proj-title", timeout=HANG_S * 1000)
            students = [Student(browser, server.url, n, t) for n, t in tokens.items()]
            pid = server.process.pid
            before, t_start = cpu_s(pid), time.monotonic()
            problems = session_phase(students, lat)
            cpu = {"sessions": cpu_s(pid) - before, "sessions_s": time.monotonic() - t_start}
            t0, c0 = time.monotonic(), cpu_s(pid)
            time.sleep(args.watch_s)  # everyone on the leaderboard, the projector open, runs train
            cpu |= {"watch": cpu_s(pid) - c0, "watch_s": time.monotonic() - t0}
            problems += [f"{s.name}: {p}" for s in [*students, projector] for p in s.problems()]
            for s in students:  # the class leaves; the projector stays while the queue drains
                s.context.close()
            t0, c0 = time.monotonic(), cpu_s(pid)
            deadline = t0 + args.queue_s
            while (
                time.monotonic() < deadline
                and fairness(server.runs_dir)[0] < fairness(server.runs_dir)[1]
            ):
                time.sleep(2)  # until every run has started (or the queue phase's time is up)
            cpu |= {"queue": cpu_s(pid) - c0, "queue_s": time.monotonic() - t0}
            fair = fairness(server.runs_dir)
            problems += [f"projector: {p}" for p in projector.problems()]
            browser.close()
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
    report(lat, cpu, fair, problems, args.students)


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # runs the finally blocks: server stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--watch-s", type=float, default=20.0, help="seconds of watching measured")
    parser.add_argument(
        "--queue-s", type=float, default=240.0, help="at most this long for the queue to drain"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_term)
    tmp = Path(tempfile.mkdtemp(prefix="cnnlab-bench-class-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
