"""The leaderboard's rows as Streamlit elements: one line per student, with "start from this recipe".

Names are the students' own text: always shown through `md_escape` (a name is never Markdown).
"""

from __future__ import annotations

import streamlit as st

from cnnlab.classroom.leaderboard import Entry, format_bytes, format_count, format_seconds
from cnnlab.text import md_escape
from pages.ui.teacher_common import start_from_recipe

WIDTHS = [0.7, 1.8, 0.9, 2.8, 0.8, 0.9, 0.8, 2.5]
HEADERS = ["#", "student", "test acc", "recipe", "params", "size", "time", ""]
MEDALS = {1: ":material/trophy:", 2: ":material/workspace_premium:", 3: ":material/military_tech:"}


def recipe_text(entry: Entry) -> str:
    """The key hyperparameters in one short line."""
    return (
        f"{entry.model} · {entry.optimizer} lr {entry.lr:g} · batch {entry.batch_size} · "
        f"{entry.epochs} epoch{'s' if entry.epochs != 1 else ''}"
    )


def header() -> None:
    cols = st.columns(WIDTHS, vertical_alignment="bottom")
    for col, text in zip(cols, HEADERS, strict=True):
        col.markdown(f"**{text}**" if text else "")


def board_row(entry: Entry, mine: bool, key: str) -> None:
    """One student's best run; `mine` highlights the viewer's own row."""
    cols = st.columns(WIDTHS, vertical_alignment="center")
    cols[0].markdown(f"**{entry.rank}** {MEDALS.get(entry.rank, '')}")
    name = md_escape(entry.name)
    cols[1].markdown(f"**{name}** (you)" if mine else name)
    cols[2].markdown(f"**{entry.test_acc:.1%}**")
    cols[3].markdown(md_escape(recipe_text(entry)))
    cols[4].markdown(format_count(entry.params) or "–")
    cols[5].markdown(format_bytes(entry.weights_bytes) or "–")
    cols[6].markdown(format_seconds(entry.train_s) or "–")
    if cols[7].button(
        "Start from this recipe",
        key=f"{key}_{entry.run_id}",
        icon=":material/play_circle:",
        help="open Train with this run's dataset, network and hyperparameters",
    ):
        start_from_recipe(entry.run_id)


def board(entries: list[Entry], me: str | None, key: str = "board") -> None:
    """The whole table (or a line saying nothing is ranked yet)."""
    if not entries:
        st.info(
            "Nobody is on the board yet: a run appears here once it has finished and been tested.",
            icon=":material/leaderboard:",
        )
        return
    header()
    for entry in entries:
        board_row(entry, entry.user_id == me, key)
