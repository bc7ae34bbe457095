"""Class questions on disk: one answer per student per round, closed means closed, a new push
starts an empty round, 30 students answering at once lose nothing; and the question bank."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from cnnlab.classroom import quiz
from cnnlab.learn.questions import LESSONS, QUESTIONS, for_lesson


def test_every_lesson_has_questions_with_a_valid_answer() -> None:
    for lesson in LESSONS:
        questions = for_lesson(lesson)
        assert questions, lesson
        for q in questions:
            assert 0 <= q.answer < len(q.choices) and q.why
    assert len(QUESTIONS.names()) >= 2 * len(LESSONS) - 3  # a few per lesson


def test_push_answer_change_close_and_a_new_round(tmp_path: Path) -> None:
    assert quiz.live(tmp_path) is None
    live = quiz.push("backprop-pool", tmp_path, now=100.0)
    assert quiz.live(tmp_path) == live and live.open and not live.names
    quiz.answer(tmp_path, "backprop-pool", "s-1", "Ada", 1)
    quiz.answer(tmp_path, "backprop-pool", "s-2", "Bao", 0)
    quiz.answer(tmp_path, "backprop-pool", "s-1", "Ada", 0)  # Ada changes her mind: one answer
    tally = quiz.tally(tmp_path, live)
    assert tally.counts == (2, 0, 0, 0) and tally.total == 2
    assert tally.names[0] == ("Ada", "Bao")
    assert (
        quiz.my_answer(tmp_path, live, "s-1") == 0 and quiz.my_answer(tmp_path, live, "x") is None
    )
    with pytest.raises(quiz.QuizError, match="no longer in play"):
        quiz.answer(tmp_path, "norm-eval", "s-1", "Ada", 0)
    with pytest.raises(quiz.QuizError, match="not one of the choices"):
        quiz.answer(tmp_path, "backprop-pool", "s-1", "Ada", 9)
    assert quiz.show_names(tmp_path, True).names
    closed = quiz.close(tmp_path)
    assert closed is not None and not closed.open and closed.names
    with pytest.raises(quiz.QuizError, match="closed"):
        quiz.answer(tmp_path, "backprop-pool", "s-3", "Cleo", 0)
    again = quiz.push("backprop-pool", tmp_path, now=200.0)
    assert quiz.tally(tmp_path, again).total == 0  # a new round starts empty
    assert quiz.tally(tmp_path, live).total == 0  # and the old round is gone
    stored = json.loads((tmp_path / "quiz" / "answers-backprop-pool.json").read_text())
    assert stored == {"round": 200.0, "answers": {}}


def test_broken_or_unknown_files_read_as_nothing(tmp_path: Path) -> None:
    (tmp_path / "quiz").mkdir()
    (tmp_path / "quiz" / "live.json").write_text("{not json")
    assert quiz.live(tmp_path) is None
    (tmp_path / "quiz" / "live.json").write_text(
        json.dumps({"qid": "gone", "round": 1, "open": True, "names": False})
    )
    assert quiz.live(tmp_path) is None
    with pytest.raises(quiz.QuizError, match="no question"):
        quiz.push("../../etc", tmp_path)


def _answer(args: tuple[str, int]) -> None:
    state_dir, i = args
    quiz.answer(Path(state_dir), "overfit-gap", f"s-{i}", f"Student {i}", i % 4)


def test_thirty_students_answering_at_once_from_several_processes(tmp_path: Path) -> None:
    live = quiz.push("overfit-gap", tmp_path)
    # spawn, not fork: a child forked from a process with torch's threads can hang on a lock one
    # of them held (seen once in a full suite); get(timeout) turns any hang into a failure
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map_async(_answer, [(str(tmp_path), i) for i in range(30)]).get(timeout=120)
    tally = quiz.tally(tmp_path, live)
    assert tally.total == 30 and tally.counts == (8, 8, 7, 7)
