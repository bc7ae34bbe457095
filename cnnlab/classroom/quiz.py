"""Class questions: the teacher pushes one question (`cnnlab.learn.questions`) to every student,
each student answers once, the projector counts the answers as they come in.

On disk, in the classroom state folder's `quiz/`:
- `live.json` – the question in play: its id, the round (push time), whether answers are still
  taken (`open`), and whether the projector may show names (`names`, the teacher's opt-in).
- `answers-<qid>.json` – that question's latest round: `{"round": t, "answers": {user_id:
  {"choice": i, "name": ..., "t": ...}}}`. One entry per student (answering again replaces it).
Every write is a read-modify-write under one flock (`.quiz.lock`: 30 students answering in the
same second, from several server processes) and lands atomically (`jsonio.atomic_write_json`),
so a reader never sees half a file. Pushing a question again starts a new, empty round.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlab.jsonio import atomic_write_json, read_dict
from cnnlab.learn.questions import QUESTIONS, Question

QUIZ_DIR = "quiz"
LIVE_FILE = "live.json"


class QuizError(ValueError):
    """An answer or push that is refused; the message says why."""


@dataclass(frozen=True)
class Live:
    """The question in play."""

    qid: str
    round: float  # unix seconds of the push: answers belong to one round
    open: bool = True  # answers are taken; False = closed and the answer revealed
    names: bool = False  # the projector shows who chose what (the teacher opted in)

    @property
    def question(self) -> Question:
        return QUESTIONS.get(self.qid)


@dataclass(frozen=True)
class Tally:
    """A round's answers: counts per choice (and names, for the teacher's opt-in)."""

    counts: tuple[int, ...]  # per choice, in the question's order
    names: tuple[tuple[str, ...], ...]  # per choice, sorted

    @property
    def total(self) -> int:
        return sum(self.counts)


def _dir(state_dir: Path) -> Path:
    return Path(state_dir) / QUIZ_DIR


@contextmanager
def _locked(state_dir: Path) -> Iterator[Path]:
    folder = _dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".quiz.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _answers_file(folder: Path, qid: str) -> Path:
    if qid not in QUESTIONS:
        raise QuizError(f"there is no question {qid!r}")
    return folder / f"answers-{qid}.json"  # qid matches questions.QID: safe in a file name


def live(state_dir: Path) -> Live | None:
    """The question in play, or None (nothing pushed, or a question that no longer exists)."""
    data = read_dict(_dir(state_dir) / LIVE_FILE)
    try:
        found = Live(
            str(data["qid"]), float(data["round"]), bool(data["open"]), bool(data["names"])
        )
    except (KeyError, TypeError, ValueError):
        return None
    return found if found.qid in QUESTIONS else None


def push(qid: str, state_dir: Path, names: bool = False, now: float | None = None) -> Live:
    """Put question `qid` in play for everyone, with a new empty round of answers."""
    with _locked(state_dir) as folder:
        path = _answers_file(folder, qid)
        message = Live(qid, time.time() if now is None else now, True, bool(names))
        atomic_write_json(path, {"round": message.round, "answers": {}})
        atomic_write_json(folder / LIVE_FILE, message.__dict__)
    return message


def _update_live(state_dir: Path, **changes: bool) -> Live | None:
    with _locked(state_dir) as folder:
        current = live(state_dir)
        if current is None:
            return None
        changed = Live(**(current.__dict__ | changes))
        atomic_write_json(folder / LIVE_FILE, changed.__dict__)
        return changed


def close(state_dir: Path) -> Live | None:
    """Stop taking answers and reveal the right one (on the projector and to students)."""
    return _update_live(state_dir, open=False)


def show_names(state_dir: Path, names: bool) -> Live | None:
    """The teacher's opt-in: whether the projector lists who chose what."""
    return _update_live(state_dir, names=bool(names))


def answer(state_dir: Path, qid: str, user_id: str, name: str, choice: int) -> None:
    """Record student `user_id`'s answer to the question in play (replacing their earlier one)."""
    question = QUESTIONS.get(qid) if qid in QUESTIONS else None
    if question is None or not 0 <= int(choice) < len(question.choices):
        raise QuizError("That answer is not one of the choices.")
    with _locked(state_dir) as folder:
        current = live(state_dir)
        if current is None or current.qid != qid:
            raise QuizError("This question is no longer in play: the teacher moved on.")
        if not current.open:
            raise QuizError("Answers for this question are closed.")
        path = _answers_file(folder, qid)
        data = read_dict(path)
        answers = data.get("answers") if data.get("round") == current.round else None
        answers = dict(answers) if isinstance(answers, dict) else {}
        answers[str(user_id)] = {"choice": int(choice), "name": str(name), "t": time.time()}
        atomic_write_json(path, {"round": current.round, "answers": answers})


def _round_answers(state_dir: Path, current: Live) -> dict[str, dict]:
    data = read_dict(_dir(state_dir) / f"answers-{current.qid}.json")
    answers = data.get("answers") if data.get("round") == current.round else None
    return {k: v for k, v in (answers or {}).items() if isinstance(v, dict)}


def my_answer(state_dir: Path, current: Live, user_id: str) -> int | None:
    """The choice `user_id` gave in this round, or None."""
    entry = _round_answers(state_dir, current).get(str(user_id))
    return int(entry["choice"]) if entry and isinstance(entry.get("choice"), int) else None


def tally(state_dir: Path, current: Live) -> Tally:
    """This round's answers counted per choice (answers outside the choices are ignored)."""
    k = len(current.question.choices)
    names: list[list[str]] = [[] for _ in range(k)]
    for entry in _round_answers(state_dir, current).values():
        choice = entry.get("choice")
        if isinstance(choice, int) and 0 <= choice < k:
            names[choice].append(str(entry.get("name", "")))
    return Tally(
        tuple(len(n) for n in names), tuple(tuple(sorted(n, key=str.casefold)) for n in names)
    )
