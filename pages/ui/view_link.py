"""Links that land on one view of a page: `?show=<view>` (the Learn page's "see this in your
run" links, `pages/ui/lessons.py`), read once by the page that has the view, which then opens
it (an expander, a tab) and scrolls to its anchor."""

from __future__ import annotations

import json

import streamlit as st

PARAM = "show"  # the query parameter naming the view to land on


def landed(view: str) -> bool:
    """True once when the page was opened to show `view` (the parameter is then removed, so a
    rerun or a copied link does not scroll again)."""
    if st.query_params.get(PARAM) != view:
        return False
    del st.query_params[PARAM]
    return True


def scroll_to(anchor: str) -> None:
    """Scroll the page to the element with id `anchor` once it is drawn (polls for ~5 s)."""
    target = json.dumps(anchor)
    st.html(
        "<script>(function(){let n=0;const t=setInterval(function(){"
        f"const e=window.parent.document.getElementById({target})||document.getElementById({target});"
        "if(e){e.scrollIntoView({behavior:'smooth',block:'start'});clearInterval(t);}"
        "if(++n>50)clearInterval(t);},100);})();</script>",
        unsafe_allow_javascript=True,
        width="content",
    )
