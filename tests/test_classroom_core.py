"""Classroom mode's backend: settings, signed identities, run ownership checks, the fair queue,
the lesson's admission rules and the per-run time limit."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from pathlib import Path

import pytest

from cnnlab.classroom import broadcast
from cnnlab.classroom.identity import (
    LOCAL,
    IdentityError,
    issue_token,
    join,
    remove_student,
    teacher_sign_in,
    verify_token,
)
from cnnlab.classroom.lesson import (
    ClassLimits,
    FieldRange,
    Lesson,
    PolicyError,
    admit,
    load_lesson,
    save_lesson,
)
from cnnlab.classroom.settings import ClassroomSettings, load_settings
from cnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from cnnlab.runs import (
    AccessDenied,
    RunOwner,
    create_run,
    delete_run,
    get_run,
    list_runs,
    rename_run,
)
from cnnlab.runs.fair import QueueEntry, next_index, projected_starts
from cnnlab.runs.jobs import JobManager


@pytest.fixture
def settings(tmp_path: Path) -> ClassroomSettings:
    return ClassroomSettings(True, "s3cret-teacher", "ABC123", b"x" * 32, tmp_path / "class")


# -- settings -------------------------------------------------------------------------------------
def test_off_by_default_and_on_by_env_or_secrets_file(tmp_path: Path) -> None:
    assert not load_settings({}, tmp_path / "none.toml").enabled
    on = load_settings({"CNNLAB_CLASSROOM": "1", "CNNLAB_TEACHER_KEY": "k"}, tmp_path / "none.toml")
    assert on.enabled and on.teacher_key == "k" and len(on.class_code) == 6
    # The generated secret is kept: a restart derives the same class code and accepts old tokens.
    again = load_settings({"CNNLAB_CLASSROOM": "1"}, tmp_path / "none.toml")
    assert again.secret == on.secret and again.class_code == on.class_code
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[classroom]\nteacher_key = "from-file"\nclass_code = "maple7"\n')
    from_file = load_settings({}, secrets)
    assert from_file.enabled and from_file.teacher_key == "from-file"
    assert from_file.class_code == "MAPLE7"
    assert not load_settings({"CNNLAB_CLASSROOM": "0"}, secrets).enabled  # env wins
    assert "from-file" not in repr(from_file) and "secret" not in repr(from_file).replace(
        "state_dir", ""
    ).replace("secret=", "")


# -- identities -----------------------------------------------------------------------------------
def test_a_student_token_survives_a_restart_and_tampering_is_refused(
    settings: ClassroomSettings,
) -> None:
    ada = join("Ada", "abc123", settings)  # the code is not case-sensitive
    token = issue_token(ada, settings)
    restarted = dataclasses.replace(settings)  # same secret and state folder on disk
    assert verify_token(token, restarted) == ada
    body, mac = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["r"] = "teacher"  # try to become the teacher
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(IdentityError, match="changed or comes from another server"):
        verify_token(f"{forged}.{mac}", settings)
    payload["r"], payload["u"] = "student", "s-000000000000"  # try to become another student
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(IdentityError):
        verify_token(f"{forged}.{mac}", settings)
    other_server = dataclasses.replace(settings, secret=b"y" * 32)
    with pytest.raises(IdentityError, match="another server"):
        verify_token(token, other_server)
    for junk in ("", "abc", "a.b.c", "!!!.???"):
        with pytest.raises(IdentityError):
            verify_token(junk, settings)


def test_names_cannot_be_taken_and_bad_names_or_codes_are_refused(
    settings: ClassroomSettings,
) -> None:
    join("Ada Lovelace", "ABC123", settings)
    for same in ("ada lovelace", "  Ada   Lovelace ", "ＡＤＡ Lovelace"):  # case, spaces, width
        with pytest.raises(IdentityError, match="already joined"):
            join(same, "ABC123", settings)
    with pytest.raises(IdentityError, match="class code"):
        join("Grace", "WRONG1", settings)
    for bad, why in [("", "Type your name"), ("x" * 41, "at most 40"), ("a\x00b", "control"),
                     ("Teacher", "reserved")]:  # fmt: skip
        with pytest.raises(IdentityError, match=why):
            join(bad, "ABC123", settings)
    assert join("Zoë 李", "ABC123", settings).name == "Zoë 李"  # unicode names are fine


def test_removed_students_and_old_teacher_keys_are_signed_out(settings: ClassroomSettings) -> None:
    bob = join("Bob", "ABC123", settings)
    token = issue_token(bob, settings)
    remove_student(bob.user_id, settings)
    with pytest.raises(IdentityError, match="no longer on this class"):
        verify_token(token, settings)
    with pytest.raises(IdentityError, match="not the teacher key"):
        teacher_sign_in("guess", settings)
    teacher = teacher_sign_in("s3cret-teacher", settings)
    token = issue_token(teacher, settings)
    assert verify_token(token, settings).is_teacher
    assert "s3cret-teacher" not in base64.urlsafe_b64decode(token.split(".")[0] + "==").decode()
    with pytest.raises(IdentityError):
        verify_token(token, dataclasses.replace(settings, teacher_key="new-key"))
    old = issue_token(bob, settings, now=time.time() - 31 * 86400)
    with pytest.raises(IdentityError):
        verify_token(old, settings)


# -- ownership --------------------------------------------------------------------------------------
def test_only_the_owner_or_the_teacher_may_delete_or_rename(settings: ClassroomSettings) -> None:
    ada, bob = join("Ada", "ABC123", settings), join("Bob", "ABC123", settings)
    teacher = teacher_sign_in("s3cret-teacher", settings)
    run = create_run(RunConfig(), owner=RunOwner.of(ada, "lesson-1"))
    run.update_status("finished")
    with pytest.raises(AccessDenied, match="Only Ada"):
        delete_run(run.run_id, actor=bob)
    with pytest.raises(AccessDenied):
        rename_run(run.run_id, "mine now", actor=bob)
    assert rename_run(run.run_id, "  first   try ", actor=ada) == "first try"
    info = next(i for i in list_runs() if i.run_id == run.run_id)
    assert info.owner == RunOwner(ada.user_id, "Ada", "lesson-1") and info.name == "first try"
    with pytest.raises(ValueError, match="at most 60"):
        rename_run(run.run_id, "x" * 61, actor=ada)
    delete_run(run.run_id, actor=teacher)
    assert run.run_id not in {i.run_id for i in list_runs()}
    old = create_run(RunConfig())  # the CLI's and old runs belong to "local": teacher only
    old.update_status("finished")
    with pytest.raises(AccessDenied):
        delete_run(old.run_id, actor=ada)
    delete_run(old.run_id, actor=LOCAL)  # the single-user lab's user may


def test_the_job_manager_refuses_another_students_stop_and_resume(
    settings: ClassroomSettings,
) -> None:
    ada, bob = join("Ada", "ABC123", settings), join("Bob", "ABC123", settings)
    manager = JobManager(max_parallel=1, warm=False)
    try:
        manager.close(stop_jobs=False)  # nothing starts: the queue stays as submitted
        cfg = RunConfig(train=TrainConfig(epochs=1))
        run_id = manager.submit(cfg, owner=RunOwner.of(ada))
        with pytest.raises(AccessDenied):
            manager.stop(run_id, actor=bob)
        assert get_run(run_id).status().status == "queued"
        with pytest.raises(AccessDenied):
            manager.resume(run_id, actor=bob)
        manager.stop(run_id, actor=ada)
        assert get_run(run_id).status().status == "stopped"
    finally:
        manager.close()


# -- the fair queue ---------------------------------------------------------------------------------
def _entries(owners: str) -> list[QueueEntry]:
    return [QueueEntry(f"r{i}-{o}", False, o) for i, o in enumerate(owners)]


def _start_order(queue: list[QueueEntry], active: list[str]) -> str:
    served: dict[str, float] = {}
    order = ""
    queue, active = list(queue), list(active)
    while queue:
        entry = queue.pop(next_index(queue, active, served))
        served[entry.owner] = len(order) + 1.0
        order += entry.owner
    return order


def test_round_robin_across_owners_and_fifo_for_one_owner() -> None:
    # Ada queued five quick starts before Bob and Cy queued one each: they do not wait for all five.
    assert _start_order(_entries("aaaaabc"), []) == "abcaaaa"
    assert _start_order(_entries("aabbc"), []) == "abcab"
    assert _start_order(_entries("aaaa"), []) == "aaaa"  # the laptop lab: first come first served
    # An owner already training goes after owners who are not.
    assert _start_order(_entries("ab"), ["a"]) == "ba"


def test_projected_starts_give_positions_and_expected_times() -> None:
    queue = _entries("aab")
    projection = projected_starts(queue, [("x", 30.0)], 1, lambda e: 60.0, {})
    assert [p.run_id[-1] for p in projection] == ["a", "b", "a"]
    assert [p.position for p in projection] == [1, 2, 3]
    assert [p.start_in_s for p in projection] == [30.0, 90.0, 150.0]
    two_slots = projected_starts(queue, [], 2, lambda e: 60.0, {})
    assert [p.start_in_s for p in two_slots] == [0.0, 0.0, 60.0]
    unknown = projected_starts(queue, [("x", None)], 1, lambda e: 60.0, {})
    assert [p.start_in_s for p in unknown] == [None, None, None]


# -- lessons and limits -------------------------------------------------------------------------------
def test_admit_enforces_the_lesson_and_the_class_limits(tmp_path: Path) -> None:
    lesson = Lesson(
        "l-1", "Learning rates", DataConfig("shapes"), ModelConfig("classic"),
        TrainConfig(lr=0.01, epochs=3), (FieldRange("lr", 1e-4, 0.1), FieldRange("epochs", 1, 5)),
        ("learn",), ClassLimits(max_waiting=1, max_epochs=5, max_minutes=2.0),
    )  # fmt: skip
    ok = RunConfig(
        DataConfig("shapes"), model=ModelConfig("classic"), train=TrainConfig(lr=0.05, epochs=4)
    )
    admitted = admit(ok, lesson, waiting=0)
    assert admitted.train.time_limit_s == 120.0 and admitted.train.lr == 0.05
    cases = [
        (dataclasses.replace(ok, data=DataConfig("digits")), "dataset"),
        (dataclasses.replace(ok, model=ModelConfig("lenet5")), "network"),
        (dataclasses.replace(ok, train=TrainConfig(lr=0.5, epochs=4)), "lr must be within"),
        (dataclasses.replace(ok, train=TrainConfig(lr=0.05, epochs=4, optimizer="sgd")), "optimizer is fixed"),
        (dataclasses.replace(ok, train=TrainConfig(lr=0.05, epochs=9)), "at most 5 epochs"),
    ]  # fmt: skip
    for cfg, why in cases:
        with pytest.raises(PolicyError, match=why):
            admit(cfg, lesson, waiting=0)
    with pytest.raises(PolicyError, match="already have 1 run"):
        admit(ok, lesson, waiting=1)
    saved = save_lesson(dataclasses.replace(lesson, lesson_id=""), tmp_path)
    assert saved.lesson_id.startswith("learning-rates-") and load_lesson(tmp_path) == saved
    (tmp_path / "lesson.json").write_text("{garbage")
    assert not load_lesson(tmp_path).active  # a damaged file is no lesson, not a crash


def test_submit_applies_admit_under_the_queue_lock(settings: ClassroomSettings) -> None:
    ada = join("Ada", "ABC123", settings)
    lesson = Lesson(limits=ClassLimits(max_waiting=2, max_minutes=1.0))
    manager = JobManager(max_parallel=1, warm=False)
    manager.close(stop_jobs=False)  # keep everything queued
    try:
        ids = [
            manager.submit(
                RunConfig(), owner=RunOwner.of(ada), admit=lambda c, n: admit(c, lesson, n)
            )
            for _ in range(2)
        ]
        with pytest.raises(PolicyError, match="already have 2"):
            manager.submit(
                RunConfig(), owner=RunOwner.of(ada), admit=lambda c, n: admit(c, lesson, n)
            )
        assert get_run(ids[0]).config().train.time_limit_s == 60.0
        assert len(list_runs()) == 2  # the refused run left nothing behind
    finally:
        manager.close()


def test_a_run_stops_itself_at_its_time_limit() -> None:
    from cnnlab.data import load_dataset
    from cnnlab.models import build_model
    from cnnlab.training import train

    cfg = RunConfig(
        DataConfig("digits"),
        train=TrainConfig(epochs=50, batch_size=8, threads=1, time_limit_s=0.5),
    )
    dataset = load_dataset(cfg.data)
    model = build_model(cfg.model, dataset.preprocess, dataset.num_classes)
    start = time.monotonic()
    result = train(cfg, dataset, model, emit=lambda e: None)
    assert result.status == "stopped" and "time limit" in result.message
    assert time.monotonic() - start < 30  # 50 epochs would take far longer


def test_broadcast_reaches_each_session_once(tmp_path: Path) -> None:
    assert broadcast.pending(tmp_path, seen=0.0) is None
    sent = broadcast.send("/train", tmp_path, query="?data=mnist")
    got = broadcast.pending(tmp_path, seen=0.0)
    assert got == sent and got.page == "train" and got.query == "data=mnist"
    assert broadcast.pending(tmp_path, seen=sent.sent) is None


def test_single_sign_on_students_keep_one_id_and_get_unique_names(
    settings: ClassroomSettings,
) -> None:
    from cnnlab.classroom.identity import join_sso

    join("Ada", "ABC123", settings)
    first = join_sso("oidc|123", "Ada", settings)
    assert first.name == "Ada 2" and first.user_id.startswith("o-")  # "Ada" was taken
    assert join_sso("oidc|123", "Ada Renamed", settings) == first  # same account, same student
    assert join_sso("oidc|456", "Ada", settings).name == "Ada 3"
    assert verify_token(issue_token(first, settings), settings) == first
    with pytest.raises(IdentityError):
        join_sso("", "Nobody", settings)
