"""cnnlab: a browser lab for convolutional neural networks. Run with `streamlit run app.py`.

In classroom mode (CNNLAB_CLASSROOM=1) a visitor without a valid identity sees the join screen
instead of any page (pages/ui/join.py); the teacher gets the teacher's pages, students do not
see the pages the lesson hides, and follow the teacher's "send everyone to this page".
"""

from pathlib import Path

import streamlit as st

from cnnlab import warm
from cnnlab.config import default_runs_dir

# First, before this process imports torch (seconds of CPU): a warm job process starts importing
# it too and prepares the quick start, so the first Train click finds it ready (cnnlab/warm.py).
warm.prestart(default_runs_dir())

from cnnlab.device import set_threads  # noqa: E402 - after the prestart, on purpose
from pages.ui import common, share  # noqa: E402
from pages.ui.classroom_sidebar import broadcast_receiver  # noqa: E402
from pages.ui.identity import (  # noqa: E402
    classroom_on,
    cookie_script,
    current_lesson,
    restore_identity,
)
from pages.ui.join import join_screen, sso_identity  # noqa: E402
from pages.ui.prewarm import prewarm_quick_start  # noqa: E402
from pages.ui.sidebar import sidebar  # noqa: E402
from pages.ui.submit import press_seen  # noqa: E402

# The server process only answers pages (small forward passes); training runs in child
# processes that get the cores. One intra-op thread here keeps a 12 MP classify at ~80 ms
# instead of 200-550 ms of thread contention while a job trains (measured, see bench/).
set_threads(1)

st.set_page_config(page_title="cnnlab", page_icon="assets/logo.png", layout="wide")
common.init_state()
common.job_manager()  # the shared job manager adopts the pre-started warm worker
prewarm_quick_start()  # Home's Quick start opens Train on the shapes set: load it now
identity = restore_identity()  # LOCAL outside classroom mode; None before joining
if identity is None:  # a student signed in by the school's single sign-on (st.login)
    sso_identity()
    identity = st.session_state.get("identity")

PAGES = {
    "Lab": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/data.py", title="Data", icon=":material/photo_library:"),
        st.Page("pages/model.py", title="Model", icon=":material/account_tree:"),
        st.Page("pages/train.py", title="Train", icon=":material/play_circle:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    ],
    "Understand": [
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
        st.Page(
            "pages/inspect.py", title="Inspect", icon=":material/visibility:", url_path="inspect"
        ),
        st.Page("pages/classify.py", title="Classify", icon=":material/image_search:"),
        st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
    ],
}


def _old_inspect_link() -> None:
    """/inside (the Inspect page's address before it was /inspect) still opens it."""
    st.switch_page("pages/inspect.py")


HIDDEN = [st.Page(_old_inspect_link, title="Inspect", url_path="inside", visibility="hidden")]


def optional(path: str, title: str, icon: str, url_path: str) -> list:
    """A page another part of the lab adds, registered only where its file exists."""
    return [st.Page(path, title=title, icon=icon, url_path=url_path)] if Path(path).exists() else []


PAGES["Lab"] += optional(
    "pages/make-dataset.py", "Make a dataset", ":material/add_a_photo:", "make-dataset"
)
if classroom_on():
    CLASS = optional("pages/leaderboard.py", "Leaderboard", ":material/trophy:", "leaderboard")
    if identity is not None and identity.is_teacher:
        CLASS = [
            *optional("pages/teacher.py", "Teacher", ":material/school:", "teacher"),
            *optional("pages/projector.py", "Projector", ":material/tv:", "projector"),
            *CLASS,
        ]
    if identity is not None and not identity.is_teacher:  # the lesson's hidden pages
        hidden = set(current_lesson().hidden_pages)
        PAGES = {s: [p for p in ps if p.url_path not in hidden] for s, ps in PAGES.items()}
        PAGES = {s: ps for s, ps in PAGES.items() if ps}
    if CLASS:
        PAGES["Class"] = CLASS

if identity is None:  # classroom mode, not joined yet: the join screen instead of any page
    st.navigation(PAGES | {"": HIDDEN}, position="hidden")  # keeps the link's page and query
    join_screen()
    cookie_script()  # clears a refused cookie
    st.stop()

page = st.navigation(PAGES | {"": HIDDEN})
share.restore()  # a share link's dataset, model and view, on every page (a refresh keeps them)
try:
    page.run()
    press_seen()  # (not when a press cut the run short: pages/ui/submit.py)
finally:  # after the page: a run it just queued shows as the latest run (also after st.stop)
    share.publish()  # the session's state back into the URL, whichever page this is
    sidebar(preload=page.url_path == "")  # Home: the page the first chart is opened from
    if classroom_on():
        cookie_script()  # a fresh sign-in: hand the browser its token
        broadcast_receiver({p.url_path: p for ps in PAGES.values() for p in ps})
