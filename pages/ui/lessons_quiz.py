"""Checks for understanding under each lesson: its questions (cnnlab.learn.questions), answered
in the page with the reason at once. A "predict" question names the control to try afterwards."""

from __future__ import annotations

import streamlit as st

from cnnlab.learn.questions import Question, for_lesson, is_right


def verdict(question: Question, choice: int) -> None:
    """Right or not, with the explanation (the right answer named when it was not)."""
    if is_right(question, choice):
        st.success(f"Right. {question.why}", icon=":material/check_circle:")
    else:
        right = question.choices[question.answer]
        st.error(f"Not quite: it is **{right}**. {question.why}", icon=":material/cancel:")


def ask(question: Question, key: str) -> int | None:
    """One question as a radio with nothing chosen yet; returns the choice index or None."""
    st.markdown(question.prompt)
    return st.radio(
        "Your answer",
        range(len(question.choices)),
        index=None,
        format_func=lambda i: question.choices[i],
        key=key,
        label_visibility="collapsed",
    )


def check_questions(lesson: str) -> None:
    """The lesson's questions in a collapsed box, each answered on its own."""
    questions = for_lesson(lesson)
    if not questions:
        return
    with st.expander(
        f"Check your understanding ({len(questions)} questions)", icon=":material/quiz:"
    ):
        for question in questions:
            choice = ask(question, f"learn_q_{question.qid}")
            if choice is not None:
                verdict(question, choice)
            elif question.predict:
                st.caption(f"Answer first, then move **{question.predict}** above to see.")
