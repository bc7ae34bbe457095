"""Teacher controls, the leaderboard and the projector (issue 14 items 5, 7, 8).

Unit tests build run folders through the Run API (owner, events, metrics, status), so they run in
milliseconds; the browser test trains one real (tiny) run and watches the leaderboard pick it up.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab.classroom.class_runs import ClassRuns, clear_class_runs, stop_all
from cnnlab.classroom.identity import Identity, issue_token, join, teacher_sign_in
from cnnlab.classroom.leaderboard import leaderboard
from cnnlab.classroom.lesson import FieldRange, Lesson, load_lesson, save_lesson
from cnnlab.classroom.projector import class_curves, curves_figure, queue_rows, spread
from cnnlab.classroom.settings import ClassroomSettings, load_settings
from cnnlab.config import DataConfig, RunConfig, TrainConfig, default_runs_dir
from cnnlab.events import EpochEvent
from cnnlab.recipes import default_run_config
from cnnlab.runs import AccessDenied, Run, RunOwner, Status, create_run, get_run, list_runs
from cnnlab.runs.access import check_manage
from cnnlab.runs.fair import Projection
from cnnlab.text import md_escape

APP = str(Path(__file__).resolve().parent.parent / "app.py")
ANA, BEN = RunOwner("s-ana", "Ana", "L1"), RunOwner("s-ben", "Ben", "L1")


def fake_run(
    owner: RunOwner, acc: float | None, seconds: float = 10.0, status: Status = Status.FINISHED,
    lr: float = 1e-3,
) -> Run:  # fmt: skip
    """A run folder as a finished (or `status`) job leaves it: events, metrics, status."""
    run = create_run(RunConfig(train=TrainConfig(lr=lr, epochs=2)), None, owner)
    run.append_events(
        [EpochEvent(epoch=1, val_acc=0.4, elapsed=seconds / 2), EpochEvent(epoch=2, val_acc=0.6,
         elapsed=seconds)]
    )  # fmt: skip
    run.write_meta({"params": 1234})
    if acc is not None:
        run.write_metrics({"test_acc": acc})
    run.update_status(status, started=time.time() - seconds, ended=time.time())
    return run


# -- the leaderboard --------------------------------------------------------------------------------
def test_leaderboard_keeps_each_students_best_and_breaks_ties_by_time() -> None:
    fake_run(ANA, 0.70, 5)
    best = fake_run(ANA, 0.90, 30, lr=3e-3)
    fake_run(BEN, 0.90, 12)
    board = leaderboard(ClassRuns(default_runs_dir()).records(), "L1")
    assert [(e.name, e.test_acc) for e in board] == [("Ben", 0.90), ("Ana", 0.90)]  # Ben faster
    assert [e.rank for e in board] == [1, 2]
    ana = board[1]
    assert ana.run_id == best.run_id and ana.lr == 3e-3 and ana.runs == 2
    assert ana.params == 1234 and ana.train_s == pytest.approx(30)
    assert ana.weights_bytes is None  # no weights file written
    best.save_weights({"w": __import__("torch").zeros(100)})
    views = ClassRuns(default_runs_dir())
    assert leaderboard(views.records(), "L1")[1].weights_bytes == best.weights_bytes() > 400


def test_leaderboard_ignores_other_lessons_and_untested_runs() -> None:
    fake_run(ANA, 0.8)
    fake_run(RunOwner("s-cy", "Cy", "L2"), 0.99)  # another lesson
    fake_run(RunOwner("s-dee", "Dee", "L1"), None)  # finished, never tested
    fake_run(RunOwner("s-eve", "Eve", "L1"), None, status=Status.RUNNING)
    board = leaderboard(ClassRuns(default_runs_dir()).records(), "L1")
    assert [e.name for e in board] == ["Ana"]
    assert [e.name for e in leaderboard(ClassRuns(default_runs_dir()).records(), "L2")] == ["Cy"]


def test_leaderboard_updates_when_a_run_finishes_rereading_only_that_run() -> None:
    fake_run(ANA, 0.5)
    running = fake_run(BEN, None, status=Status.RUNNING)
    views = ClassRuns(default_runs_dir(), max_age_s=0)
    assert [e.name for e in leaderboard(views.records(), "L1")] == ["Ana"]
    reads = views.reads
    views.records()
    assert views.reads == reads  # nothing changed: nothing re-read
    running.write_metrics({"test_acc": 0.75})
    running.update_status(Status.FINISHED, ended=time.time())
    assert [e.name for e in leaderboard(views.records(), "L1")] == ["Ben", "Ana"]
    assert views.reads == reads + 1  # only the run that changed


# -- stop all, clear the class's runs ---------------------------------------------------------------
@dataclasses.dataclass
class QueueOnly:
    """The job manager's stop for runs that are only queued (no job process): the same check."""

    runs_dir: Path

    def stop(self, run_id: str, actor: Identity | None = None) -> None:
        run = get_run(run_id, self.runs_dir)
        check_manage(actor, run.owner(), "stop", run_id)
        run.update_status(Status.STOPPED, ended=time.time())


def test_stop_all_and_clear_touch_only_the_lessons_runs() -> None:
    teacher = Identity("teacher", "Teacher", "teacher")
    mine = create_run(RunConfig(), None, RunOwner("teacher", "Teacher", "L1"))  # spared
    waiting = create_run(RunConfig(), None, ANA)
    done = fake_run(BEN, 0.8)
    other = create_run(RunConfig(), None, RunOwner("s-cy", "Cy", "L2"))
    manager = QueueOnly(default_runs_dir())
    assert stop_all(manager, "L1", teacher, spare="teacher") == [waiting.run_id]  # type: ignore[arg-type]
    assert other.status().status == Status.QUEUED and mine.status().status == Status.QUEUED
    waiting.update_status(Status.QUEUED)
    cleared = clear_class_runs(manager, "L1", teacher, spare="teacher", wait_s=1)  # type: ignore[arg-type]
    assert sorted(cleared.deleted) == sorted([waiting.run_id, done.run_id])
    assert cleared.stopped == [waiting.run_id] and not cleared.still_active
    assert {r.run_id for r in list_runs()} == {mine.run_id, other.run_id}


def test_a_student_cannot_stop_the_class() -> None:
    create_run(RunConfig(), None, BEN)
    with pytest.raises(AccessDenied):
        stop_all(QueueOnly(default_runs_dir()), "L1", Identity("s-ana", "Ana"))  # type: ignore[arg-type]


# -- the projector ----------------------------------------------------------------------------------
def test_projector_curves_one_line_per_student_named_and_escaped() -> None:
    fake_run(ANA, 0.5)
    newest = fake_run(ANA, 0.6)
    fake_run(RunOwner("s-x", "<b>X</b>", "L1"), None, status=Status.RUNNING)
    fake_run(RunOwner("s-old", "Old", "L1"), 0.9).update_status(ended=time.time() - 3600)
    curves = class_curves(ClassRuns(default_runs_dir()).records(), "L1")
    assert [c.name for c in curves] == ["<b>X</b>", "Ana"]
    assert curves[1].run_id == newest.run_id
    fig = curves_figure(curves)
    assert {a.text for a in fig.layout.annotations} == {"<b>&lt;b&gt;X&lt;/b&gt;</b>", "<b>Ana</b>"}
    rows = queue_rows([Projection("r1", 1, 0.0), Projection("r2", 2, 200.0)], {"r1": "Ana"})
    assert [(r.name, r.starts) for r in rows] == [("Ana", "next"), ("?", "in ~3 min 20 s")]


def test_spread_keeps_labels_apart_in_order() -> None:
    placed = spread([0.9, 0.9, 0.91, 0.2], 0.05)
    assert placed[3] == 0.2 and max(placed) <= 1.0
    ends = sorted(placed[:3])
    assert all(b - a >= 0.05 - 1e-9 for a, b in zip(ends, ends[1:], strict=False))


# -- pages (AppTest) --------------------------------------------------------------------------------
KEY, SECRET = "k-" + "t" * 20, "s" * 32
CLASSROOM_ENV = {
    "CNNLAB_CLASSROOM": "1",
    "CNNLAB_TEACHER_KEY": KEY,
    "CNNLAB_CLASSROOM_SECRET": SECRET,
}
SERVER_SETTINGS = CLASSROOM_ENV  # the browser test's server (tests/browser.py) is in classroom mode


@pytest.fixture
def classroom(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClassroomSettings]:
    """Classroom mode on, its state beside this test's runs folder (as on a server)."""
    for name, value in CLASSROOM_ENV.items():
        monkeypatch.setenv(name, value)
    from pages.ui.identity import classroom_settings

    classroom_settings.clear()
    yield load_settings()
    classroom_settings.clear()


def signed_in(at: AppTest, identity: Identity, settings: ClassroomSettings) -> None:
    """The session as the join gate leaves it: the identity and its signed token."""
    at.session_state.identity = identity
    at.session_state.identity_token = issue_token(identity, settings)


def open_as(identity: Identity, page: str, settings: ClassroomSettings) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    signed_in(at, identity, settings)
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_student_opening_the_teacher_page_is_refused(classroom: ClassroomSettings) -> None:
    """The page itself refuses (not only the navigation that hides its link)."""
    at = AppTest.from_file(str(Path(APP).parent / "pages" / "teacher.py"), default_timeout=90)
    at.session_state.data_cfg = DataConfig()  # as app.py leaves it: the page runs alone
    signed_in(at, join("Ana", classroom.class_code, classroom), classroom)
    at.run()
    assert not at.exception, at.exception
    assert any("teacher's" in e.value for e in at.error)
    assert not [b for b in at.button if b.label in ("Start lesson", "Stop all")]
    at = open_as(teacher_sign_in(KEY, classroom), "teacher", classroom)
    assert not at.error and [b for b in at.button if b.label == "Stop all"]


def test_the_teacher_starts_and_ends_a_lesson(classroom: ClassroomSettings) -> None:
    at = open_as(teacher_sign_in(KEY, classroom), "teacher", classroom)
    at.text_input(key="tl_title").set_value("Week 3")
    at.multiselect(key="tl_editable").set_value(["lr"])
    at.run()
    at.number_input(key="tl_hi_lr").set_value(0.05)
    at.button(key="tl_start").click()
    at.run()
    lesson = load_lesson(classroom.state_dir)
    assert lesson.active and lesson.title == "Week 3"
    assert [(r.name, r.hi) for r in lesson.editable] == [("lr", 0.05)]
    at.button(key="tl_end").click()
    at.run()
    assert not load_lesson(classroom.state_dir).active


def test_leaderboard_page_escapes_names_and_starts_from_a_recipe(
    classroom: ClassroomSettings,
) -> None:
    editable = (FieldRange("lr", 1e-4, 0.1),)  # students may change lr: the recipe's is kept
    lesson = save_lesson(Lesson(title="L", editable=editable), classroom.state_dir)
    hostile = "**Bold** [x](javascript:alert(1)) :red[r]"
    cfg = default_run_config("digits")
    cfg = dataclasses.replace(
        cfg, data=DataConfig(name="digits"), train=dataclasses.replace(cfg.train, lr=0.0123)
    )
    run = create_run(cfg, None, RunOwner("s-h", hostile, lesson.lesson_id))
    run.write_metrics({"test_acc": 0.9})
    run.update_status(Status.FINISHED, started=time.time() - 5, ended=time.time())
    at = open_as(join("Bea", classroom.class_code, classroom), "leaderboard", classroom)
    texts = [m.value for m in at.markdown]
    assert md_escape(hostile) in texts and hostile not in texts
    [button] = [b for b in at.button if b.label == "Start from this recipe"]
    button.click()
    at.run()
    assert not at.exception, at.exception
    assert at.session_state.data_cfg == cfg.data and at.session_state.model_cfg == cfg.model
    if "recipe_run" in at.session_state:  # a Train form that does not take recipes (yet)
        assert at.session_state.recipe_run == run.run_id
    else:  # the Train form took the recipe (and forgot it): it starts from the run's values
        assert at.number_input(key="tr_lr").value == pytest.approx(0.0123)


# -- a real browser: the board picks up a run as it finishes -------------------------------------------
def test_browser_leaderboard_updates_when_a_run_finishes(
    server,
    page,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    from tests.browser import open_page, screenshot

    monkeypatch.setenv("CNNLAB_CLASSROOM_DIR", str(server.runs_dir.parent / "classroom"))
    settings = load_settings(env=dict(CLASSROOM_ENV))  # the server's: same secret, same folder
    lesson = save_lesson(Lesson(title="Live"), settings.state_dir)
    student = join("Zoë <i>", settings.class_code, settings)
    page.context.add_cookies(
        [{"name": "cnnlab_identity", "value": issue_token(student, settings), "url": server.url}]
    )
    cfg = default_run_config("digits")
    cfg = dataclasses.replace(
        cfg, data=DataConfig(name="digits"), train=dataclasses.replace(cfg.train, epochs=1, threads=1)
    )  # fmt: skip
    open_page(page, server)  # Home first: the server leaves its fresh-server mode
    open_page(page, server, "leaderboard")
    page.get_by_text("Nobody is on the board yet").wait_for(timeout=60_000)
    run = create_run(cfg, server.runs_dir, RunOwner.of(student, lesson.lesson_id))
    job = subprocess.run(
        [sys.executable, "-m", "cnnlab", "train", "--run-dir", str(run.path)],
        capture_output=True, timeout=300, check=False, cwd=Path(APP).parent,
    )  # fmt: skip
    assert job.returncode == 0, job.stderr[-2000:]
    assert get_run(run.run_id, server.runs_dir).status().status == Status.FINISHED
    page.get_by_text("Zoë <i> (you)").wait_for(timeout=15_000)  # the fragment refreshes itself
    assert page.get_by_role("button", name="Start from this recipe").count() == 1
    screenshot(page, "leaderboard-live")
