"""Running a page through app.py, also when a fresh server's first request is a deep link."""

from __future__ import annotations

import streamlit as st


def ensure_app_shell() -> None:
    """Run the page through app.py even when a fresh server's first request is a deep link.

    Streamlit treats a `pages/` folder as a v1 multipage app until `st.navigation` has been
    called once in the process, so a bookmarked `/learn` on a fresh server would run that page
    alone (no sidebar, no session defaults, a raw file list as navigation). Turning that mode
    off and rerunning makes Streamlit execute app.py, which routes to the requested page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    # Only a v1-mode run lacks the defaults app.py sets; other runs must not rerun (that would
    # drop the click that started them).
    if PagesManager.uses_pages_directory and "data_cfg" not in st.session_state:
        PagesManager.uses_pages_directory = False
        st.rerun()
