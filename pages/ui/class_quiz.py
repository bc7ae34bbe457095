"""Class questions in classroom mode (cnnlab.classroom.quiz): the teacher pushes a question from
the Teacher page, every student gets it at the top of Learn (their browser is sent there), and
the projector counts the answers as they come in (names only if the teacher opts in).

Student names are the students' own text: escaped wherever they are drawn.
"""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom import broadcast, quiz
from cnnlab.learn.questions import LESSONS, QUESTIONS, Question
from cnnlab.text import html_escape, md_escape
from pages.ui.identity import classroom_on, classroom_settings, current_identity
from pages.ui.lessons import LESSON_TABS
from pages.ui.lessons_quiz import verdict

POLL_S = 2.0  # seconds between checks for a new question or new answers


def _label(qid: str) -> str:
    q = QUESTIONS.get(qid)
    prompt = q.prompt.replace("**", "")
    return f"{LESSONS[q.lesson]} · {prompt[:70]}{'…' if len(prompt) > 70 else ''}"


# -- the student's side (top of the Learn page) -------------------------------------------------
def student_question() -> None:
    """The question in play for a signed-in student: answer it, see the reveal."""
    me = current_identity()
    if not classroom_on() or me is None or me.is_teacher:
        return

    @st.fragment(run_every=POLL_S)
    def panel() -> None:
        state_dir = classroom_settings().state_dir
        current = quiz.live(state_dir)
        if current is None:
            return
        question, mine = current.question, quiz.my_answer(state_dir, current, me.user_id)
        with st.container(border=True, key="class_question"):
            st.markdown(f"#### :material/campaign: Question from your teacher\n{question.prompt}")
            if not current.open:
                st.caption("Answers are closed.")
                if mine is not None:
                    verdict(question, mine)
                else:
                    st.info(f"The answer: **{question.choices[question.answer]}**. {question.why}")
                return
            _answer_form(question, current, mine, me.user_id, me.name)

    panel()


def _answer_form(question: Question, current: quiz.Live, mine: int | None, user: str, name: str):
    key = f"class_answer_{current.qid}_{int(current.round)}"
    choice = st.radio(
        "Your answer", range(len(question.choices)), index=mine, key=key,
        format_func=lambda i: question.choices[i],
    )  # fmt: skip
    if st.button("Send my answer", key=f"{key}_send", icon=":material/send:", type="primary"):
        if choice is None:
            st.warning("Pick an answer first.")
            return
        try:
            quiz.answer(classroom_settings().state_dir, current.qid, user, name, int(choice))
        except quiz.QuizError as exc:
            st.warning(md_escape(exc))
            return
        mine = int(choice)
    if mine is not None:
        st.success(
            f"Your answer is in: **{md_escape(question.choices[mine])}**. You can change it until "
            "the teacher closes the question.",
            icon=":material/how_to_vote:",
        )


# -- the teacher's side (Teacher page) --------------------------------------------------------
def teacher_push() -> None:
    """Pick a question, push it to everyone (their browsers open its lesson), close and reveal."""
    state_dir = classroom_settings().state_dir
    current = quiz.live(state_dir)
    qid = st.selectbox("Question", QUESTIONS.names(), format_func=_label, key="tq_question")
    names = st.checkbox(
        "Show names on the projector", key="tq_names",
        value=bool(current and current.names),
        help="off: the projector shows only how many chose each answer",
    )  # fmt: skip
    row = st.container(horizontal=True)
    if row.button("Push to everyone", icon=":material/campaign:", key="tq_push", type="primary"):
        current = quiz.push(qid, state_dir, names=names)
        tab = LESSON_TABS.get(current.question.lesson)
        broadcast.send("learn", state_dir, f"tab={tab}" if tab else "")
        st.toast("Question pushed: every student's Learn page shows it.")
    if current is not None and current.names != names:
        current = quiz.show_names(state_dir, names)
    if row.button("Close and reveal", icon=":material/lock:", key="tq_close",
                  disabled=current is None or not current.open):  # fmt: skip
        current = quiz.close(state_dir)
    teacher_tally()


@st.fragment(run_every=POLL_S)
def teacher_tally() -> None:
    """The question in play and its counts so far, refreshed as answers come in."""
    state_dir = classroom_settings().state_dir
    current = quiz.live(state_dir)
    if current is None:
        st.caption("No question in play.")
        return
    tally = quiz.tally(state_dir, current)
    state = "taking answers" if current.open else "closed, answer revealed"
    st.caption(f"In play: {md_escape(_label(current.qid))} · {state} · {tally.total} answer(s)")
    for text, count in zip(current.question.choices, tally.counts, strict=True):
        st.markdown(f"- {md_escape(text)}: **{count}**")


# -- the projector ------------------------------------------------------------------------------
QUIZ_CSS = """
<style>
.proj-quiz { border: 3px solid #111; border-radius: 12px; padding: 14px 22px; margin-bottom: 18px;
  background: #fff; color: #111; }
.proj-quiz .q { font-size: 40px; font-weight: 800; line-height: 1.2; margin-bottom: 10px; }
.proj-quiz .row { display: flex; align-items: center; gap: 16px; margin: 8px 0; font-size: 32px; }
.proj-quiz .choice { width: 38%; font-weight: 700; }
.proj-quiz .bar { height: 40px; background: #2E91E5; border-radius: 6px; min-width: 4px; }
.proj-quiz .right .bar { background: #1CA71C; }
.proj-quiz .n { font-weight: 800; min-width: 2em; }
.proj-quiz .names { font-size: 22px; color: #333; margin: -4px 0 6px 40%; }
.proj-quiz .foot { font-size: 28px; color: #333; margin-top: 6px; }
</style>
"""


def answers_html(current: quiz.Live, tally: quiz.Tally) -> str:
    """The question and one bar per choice, its count at the end; the right one green once
    closed; names under each bar only when the teacher opted in."""
    q = current.question
    most = max(tally.counts, default=0) or 1
    rows = []
    for i, (text, count) in enumerate(zip(q.choices, tally.counts, strict=True)):
        right = not current.open and i == q.answer
        mark = " ✓" if right else ""
        rows.append(
            f"<div class='row{' right' if right else ''}'>"
            f"<div class='choice'>{html_escape(text)}{mark}</div>"
            f"<div class='bar' style='width:{50 * count / most:.1f}%'></div>"
            f"<div class='n'>{count}</div></div>"
        )
        if current.names and tally.names[i]:
            rows.append(f"<div class='names'>{html_escape(', '.join(tally.names[i]))}</div>")
    state = "answers open" if current.open else "closed"
    prompt = html_escape(q.prompt.replace("**", ""))
    return (
        f"<div class='proj-quiz'><div class='q'>{prompt}</div>{''.join(rows)}"
        f"<div class='foot'>{tally.total} answered · {state}</div></div>"
    )


def projector_question() -> None:
    """The question in play with the class's answers so far (nothing when none is in play)."""
    state_dir = classroom_settings().state_dir
    current = quiz.live(state_dir)
    if current is not None:
        st.html(QUIZ_CSS + answers_html(current, quiz.tally(state_dir, current)))
