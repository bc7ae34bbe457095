"""A class question in real browsers (loopback): the teacher pushes a question from the Teacher
page, two students' Learn pages open its lesson and show it, they answer, the projector counts
the answers (no names until the teacher opts in), the teacher closes it and the students see
whether they were right. One answer per student lands on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import Server, screenshot, wait_idle
from tests.test_browser_classroom import (
    classroom_server,
    join_as,
    new_page,
    settle,
    teacher_sign_in,
)

QUESTION = "Going backwards through a 2×2 max pool"  # backprop-pool, Learn tab 7


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from classroom_server(tmp_path_factory, "quiz")


def main(pg: object) -> object:
    return pg.locator("[data-testid='stMain']")  # type: ignore[attr-defined]


def test_a_teacher_pushes_a_question_and_the_projector_counts_two_answers(
    browser: object, server: Server
) -> None:
    teacher = new_page(browser, server)
    teacher_sign_in(teacher)
    students = {}
    for name in ("Ada", "Bao"):
        students[name] = pg = new_page(browser, server, "learn")
        join_as(pg, name)
        main(pg).get_by_text("Learn: how a CNN works").wait_for()
    ada, bao = students["Ada"], students["Bao"]

    teacher.goto(f"{server.url}/teacher")
    wait_idle(teacher)
    picker = teacher.locator(".st-key-tq_question input")
    picker.fill("Backpropagation · Going")
    picker.press("Enter")
    wait_idle(teacher)
    teacher.get_by_role("button", name="Push to everyone").click()
    wait_idle(teacher)
    screenshot(teacher, "class_question_teacher")

    for pg in (ada, bao):  # sent to Learn's backpropagation tab, the question on top
        panel = pg.locator(".st-key-class_question")
        panel.get_by_text(QUESTION).wait_for(timeout=30_000)
        pg.get_by_role("tab", name="7 · Backpropagation", selected=True).wait_for()
    settle(ada)
    screenshot(ada, "class_question_student")
    for pg, choice in ((ada, "Only the largest one"), (bao, "All four equally")):
        panel = pg.locator(".st-key-class_question")
        panel.get_by_text(choice, exact=True).click()
        wait_idle(pg)
        panel.get_by_role("button", name="Send my answer").click()
        panel.get_by_text("Your answer is in").wait_for()

    projector = teacher.context.new_page()
    projector.goto(f"{server.url}/projector")
    projector.get_by_text("2 answered").wait_for(timeout=30_000)
    counts = projector.locator(".proj-quiz .n").all_inner_texts()
    assert counts == ["1", "1", "0", "0"]
    assert "Ada" not in projector.locator(".proj-quiz").inner_text()  # counts only
    teacher.get_by_text("2 answer(s)", exact=False).wait_for(timeout=30_000)  # live there too
    settle(projector)
    screenshot(projector, "class_question_projector")

    teacher.get_by_text("Show names on the projector").click()
    wait_idle(teacher)
    projector.locator(".proj-quiz").get_by_text("Ada").wait_for(timeout=30_000)
    teacher.get_by_role("button", name="Close and reveal").click()
    wait_idle(teacher)
    projector.get_by_text("closed").wait_for(timeout=30_000)
    assert "✓" in projector.locator(".proj-quiz .right").inner_text()
    settle(projector)
    screenshot(projector, "class_question_projector_revealed")
    ada.locator(".st-key-class_question").get_by_text("Right.").wait_for(timeout=30_000)
    bao.locator(".st-key-class_question").get_by_text("Not quite").wait_for(timeout=30_000)

    stored = Path(server.state_dir) / "quiz" / "answers-backprop-pool.json"  # type: ignore[attr-defined]
    answers = json.loads(stored.read_text())["answers"]
    assert sorted(a["name"] for a in answers.values()) == ["Ada", "Bao"]
    for pg in (*students.values(), teacher):
        pg.context.close()
