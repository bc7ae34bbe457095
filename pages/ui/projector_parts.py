"""The projector's side panels as HTML: the top ten and the queue, in type read from the back row.

Plain HTML (st.html) rather than Streamlit tables: the sizes and contrast are ours to set, and
nothing scrolls or needs a mouse. Every student name goes through `html_escape`.
"""

from __future__ import annotations

from cnnlab.classroom.leaderboard import Entry, format_seconds
from cnnlab.classroom.projector import QueueRow
from cnnlab.text import html_escape

QUEUE_ROWS = 8  # the queue's first rows shown (the rest as "+ N more")

# High contrast at a distance: near-black on white, 30-56 px type, heavy weights, no greys
# lighter than #444. Scoped to the projector's own classes; the sidebar is collapsed.
PROJECTOR_CSS = """
<style>
section[data-testid="stSidebar"] { display: none; }
[data-testid="stMainBlockContainer"] { padding: 1.2rem 2rem; max-width: 100%; }
.proj-title { font-size: 52px; font-weight: 800; color: #111; line-height: 1.1; }
.proj-empty { font-size: 36px; color: #333; padding: 4rem 0; }
.proj-panel { background: #fff; color: #111; border: 3px solid #111; border-radius: 12px;
  padding: 12px 18px; margin-bottom: 18px; }
.proj-panel h2 { font-size: 40px; font-weight: 800; margin: 0 0 6px 0; color: #111; padding: 0; }
.proj-panel table { width: 100%; border-collapse: collapse; font-size: 30px; }
.proj-panel td { padding: 3px 6px; border-top: 1px solid #bbb; color: #111; }
.proj-panel td.n { width: 2.2em; font-weight: 800; }
.proj-panel td.v { text-align: right; font-weight: 800; white-space: nowrap; }
.proj-panel td.name { max-width: 9em; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.proj-panel .none { font-size: 28px; color: #333; }
</style>
"""


def _table(rows: list[str]) -> str:
    return "<table>" + "".join(rows) + "</table>"


def top_html(entries: list[Entry]) -> str:
    """The leaderboard's first rows: rank, name, test accuracy, training time."""
    if not entries:
        body = "<div class='none'>No finished runs yet</div>"
    else:
        body = _table(
            [
                f"<tr><td class='n'>{e.rank}</td><td class='name'>{html_escape(e.name)}</td>"
                f"<td class='v'>{e.test_acc:.1%}</td>"
                f"<td class='v'>{html_escape(format_seconds(e.train_s))}</td></tr>"
                for e in entries
            ]
        )
    return f"<div class='proj-panel'><h2>Leaderboard</h2>{body}</div>"


def queue_html(rows: list[QueueRow]) -> str:
    """The waiting runs in start order: place, name, expected start."""
    if not rows:
        body = "<div class='none'>Nobody waiting</div>"
    else:
        shown = [
            f"<tr><td class='n'>{r.position}</td><td class='name'>{html_escape(r.name)}</td>"
            f"<td class='v'>{html_escape(r.starts)}</td></tr>"
            for r in rows[:QUEUE_ROWS]
        ]
        more = len(rows) - QUEUE_ROWS
        if more > 0:
            shown.append(f"<tr><td></td><td colspan='2'>+ {more} more</td></tr>")
        body = _table(shown)
    return f"<div class='proj-panel'><h2>Queue ({len(rows)})</h2>{body}</div>"
