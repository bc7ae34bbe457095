"""Classroom mode's session side (AppTest): the join gate, tokens from the cookie, the teacher's
key kept off every rendered element, and ownership on the Runs page and in the backend.

AppTest cannot send cookies, so the tests stand in for the browser's `cnnlab_identity` cookie by
replacing `pages.ui.identity.read_cookie` (the one place the app reads it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnlab.classroom.identity import issue_token, join, teacher_sign_in, verify_token
from cnnlab.classroom.settings import load_settings
from cnnlab.config import DataConfig, RunConfig, TrainConfig
from cnnlab.runs import AccessDenied, RunOwner, create_run, delete_run, get_run, rename_run
from pages.ui import identity as ui_identity

APP = str(Path(__file__).resolve().parent.parent / "app.py")
KEY = "sesame-TEACHER-9f3k"  # the teacher key: must never be rendered
CODE = "MAPLE7"


@pytest.fixture
def classroom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("CNNLAB_CLASSROOM", "1")
    monkeypatch.setenv("CNNLAB_TEACHER_KEY", KEY)
    monkeypatch.setenv("CNNLAB_CLASS_CODE", CODE)
    monkeypatch.setenv("CNNLAB_CLASSROOM_DIR", str(tmp_path / "classroom"))
    monkeypatch.setenv("CNNLAB_CLASSROOM_SECRET", "test-secret")
    ui_identity.classroom_settings.clear()
    yield load_settings()
    ui_identity.classroom_settings.clear()


def with_cookie(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setattr(ui_identity, "read_cookie", lambda: token)


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Every rendered text of the app (markdown, captions, errors, labels, values)."""
    parts = [str(e.value) for e in at.markdown] + [str(e.value) for e in at.caption]
    parts += [str(e.value) for e in at.error] + [str(e.value) for e in at.title]
    parts += [f"{e.label} {e.value}" for e in at.text_input] + [e.label for e in at.button]
    parts += [str(e.value) for e in at.metric]
    return "\n".join(parts)


def test_without_a_token_the_join_screen_shows_and_no_page(classroom: object) -> None:
    at = app()
    assert any("join the class" in t.value for t in at.title)
    assert {t.label for t in at.text_input} >= {"Your name", "Class code", "Teacher key"}
    assert not any(t.value == "cnnlab" for t in at.title)  # Home did not run
    assert at.session_state.identity is None


def test_joining_through_the_form_signs_in_and_issues_a_token(classroom: object) -> None:
    at = app()
    at.text_input(key="join_name").input("Ada")
    at.text_input(key="join_code").input(CODE.lower())
    at.button[0].click().run()  # the form's Join
    assert not at.exception, at.exception
    me = at.session_state.identity
    assert me.name == "Ada" and not me.is_teacher
    assert verify_token(at.session_state.identity_token, classroom) == me
    assert "Ada" in texts(at) and "Sign out" in texts(at)
    assert any(t.value == "cnnlab" for t in at.title)  # Home now runs


def test_a_wrong_class_code_is_refused_with_a_message(classroom: object) -> None:
    at = app()
    at.text_input(key="join_name").input("Ada")
    at.text_input(key="join_code").input("WRONG1")
    at.button[0].click().run()
    assert at.session_state.identity is None
    assert any("class code" in e.value for e in at.error)


def test_a_good_token_logs_in(classroom: object, monkeypatch: pytest.MonkeyPatch) -> None:
    bob = join("Bob", CODE, classroom)
    with_cookie(monkeypatch, issue_token(bob, classroom))
    at = app()
    assert at.session_state.identity == bob
    assert any(t.value == "cnnlab" for t in at.title)


def test_a_tampered_token_is_refused_with_the_message(
    classroom: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = join("Bob", CODE, classroom)
    body, mac = issue_token(bob, classroom).split(".")
    teacher = issue_token(dataclasses.replace(bob, role="teacher"), classroom).split(".")[0]
    with_cookie(monkeypatch, f"{teacher}.{mac}")  # Bob's MAC on a payload claiming teacher
    at = app()
    assert at.session_state.identity is None
    assert any("join the class" in t.value for t in at.title)
    assert any("changed or comes from another server" in e.value for e in at.error)
    # the refused cookie is cleared: the page carries the cookie-expiring script
    scripts = [h.proto.body for h in at.get("html")]
    assert any("max-age=0" in s and "cnnlab_identity" in s for s in scripts)


def test_teacher_sign_in_and_the_key_is_never_rendered(classroom: object) -> None:
    at = app()
    at.text_input(key="join_name")  # the student form is there too
    [field] = [t for t in at.text_input if t.label == "Teacher key"]
    field.input("not-the-key")
    [button] = [b for b in at.button if b.label == "Sign in as the teacher"]
    button.click().run()
    assert any("not the teacher key" in e.value for e in at.error)
    assert at.session_state.identity is None
    [field] = [t for t in at.text_input if t.label == "Teacher key"]
    field.input(KEY)
    [button] = [b for b in at.button if b.label == "Sign in as the teacher"]
    button.click().run()
    assert not at.exception, at.exception
    assert at.session_state.identity.is_teacher
    assert CODE in texts(at)  # the class code in the sidebar, for the room
    for page in ("pages/runs.py", "pages/train.py", "pages/home.py"):
        at.switch_page(page).run()
        everything = texts(at) + "".join(h.proto.body for h in at.get("html"))
        assert KEY not in everything, page
    assert KEY not in repr(at.session_state)  # not kept in the session either


def test_sign_out_forgets_the_identity_and_clears_the_cookie(
    classroom: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = join("Bob", CODE, classroom)
    with_cookie(monkeypatch, issue_token(bob, classroom))
    at = app()
    at.button(key="sign_out").click().run()
    assert at.session_state.identity is None
    assert any("join the class" in t.value for t in at.title)
    assert any("max-age=0" in h.proto.body for h in at.get("html"))


def test_a_removed_student_is_signed_out_on_the_next_run(
    classroom: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnnlab.classroom.identity import remove_student

    bob = join("Bob", CODE, classroom)
    with_cookie(monkeypatch, issue_token(bob, classroom))
    at = app()
    assert at.session_state.identity == bob
    remove_student(bob.user_id, classroom)
    at.run()
    assert at.session_state.identity is None
    assert any("no longer on this class" in e.value for e in at.error)


def tiny_run(owner: RunOwner) -> str:
    cfg = RunConfig(data=DataConfig(name="shapes", limit=60), train=TrainConfig(epochs=1))
    return create_run(cfg, None, owner).run_id


def test_the_backend_refuses_another_students_run(classroom: object) -> None:
    ada, bob = join("Ada", CODE, classroom), join("Bob", CODE, classroom)
    run_id = tiny_run(RunOwner.of(ada))
    with pytest.raises(AccessDenied, match="not yours"):
        rename_run(run_id, "mine now", actor=bob)
    with pytest.raises(AccessDenied, match="Only Ada"):
        delete_run(run_id, actor=bob)
    from cnnlab.runs.jobs import JobManager

    jobs = JobManager(warm=False)
    try:
        with pytest.raises(AccessDenied):
            jobs.stop(run_id, bob)
    finally:
        jobs.close()
    assert rename_run(run_id, "Ada's first", actor=ada) == "Ada's first"
    teacher = teacher_sign_in(KEY, classroom)
    rename_run(run_id, "renamed by the teacher", actor=teacher)
    assert get_run(run_id).status().name == "renamed by the teacher"


def test_runs_page_hides_owner_actions_on_others_runs_and_filters(
    classroom: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, bob = join("Ada", CODE, classroom), join("Bob", CODE, classroom)
    ada_run, bob_run = tiny_run(RunOwner.of(ada)), tiny_run(RunOwner.of(bob))
    get_run(ada_run).update_status("stopped", message="by request")
    get_run(bob_run).update_status("stopped", message="by request")
    with_cookie(monkeypatch, issue_token(bob, classroom))
    at = app()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    # Bob's default filter is Mine: only his run, with his owner actions
    assert at.selectbox(key="runs_pick").options == [
        at.selectbox(key="runs_pick").format_func(bob_run)
    ]
    assert [b.label for b in at.button if b.label in ("Resume", "Save the name")]
    at.get("button_group")[0].set_value("All").run()  # the Mine / Class / All control
    assert len(at.selectbox(key="runs_pick").options) == 2
    at.selectbox(key="runs_pick").set_value(ada_run).run()
    assert not [
        b for b in at.button if b.label in ("Resume", "Save the name", "Delete permanently")
    ]
    assert any("Ada's run" in c.value for c in at.caption)


def test_cli_runs_json_shows_the_owner_and_name(
    classroom: object, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from cnnlab.cli import main

    ada = join("Ada", CODE, classroom)
    run_id = tiny_run(RunOwner.of(ada, "lesson-1"))
    rename_run(run_id, "first try", actor=ada)
    assert main(["runs", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["owner"] == {"user_id": ada.user_id, "name": "Ada", "lesson": "lesson-1"}
    assert row["name"] == "first try"


def test_the_teachers_send_everyone_moves_a_student_once(
    classroom: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnnlab.classroom import broadcast

    bob = join("Bob", CODE, classroom)
    with_cookie(monkeypatch, issue_token(bob, classroom))
    at = app()
    assert any(t.value == "cnnlab" for t in at.title)  # Home
    broadcast.send("runs", classroom.state_dir)
    at.run()  # the receiver (a fragment) reads the message and switches the page
    assert any(t.value == "Runs" for t in at.title)
    at.switch_page("pages/home.py").run()
    assert any(t.value == "cnnlab" for t in at.title)  # once only: Home stays
