"""cnnlab: a browser lab for convolutional neural networks. Run with `streamlit run app.py`."""

import streamlit as st

from cnnlab import warm
from cnnlab.config import default_runs_dir

# First, before this process imports torch (seconds of CPU): a warm job process starts importing
# it too and prepares the quick start, so the first Train click finds it ready (cnnlab/warm.py).
warm.prestart(default_runs_dir())

from cnnlab.device import set_threads  # noqa: E402 - after the prestart, on purpose
from pages.ui import common  # noqa: E402
from pages.ui.prewarm import prewarm_quick_start  # noqa: E402
from pages.ui.sidebar import sidebar  # noqa: E402

# The server process only answers pages (small forward passes); training runs in child
# processes that get the cores. One intra-op thread here keeps a 12 MP classify at ~80 ms
# instead of 200-550 ms of thread contention while a job trains (measured, see bench/).
set_threads(1)

st.set_page_config(page_title="cnnlab", page_icon="assets/logo.png", layout="wide")
common.init_state()
common.job_manager()  # the shared job manager adopts the pre-started warm worker
prewarm_quick_start()  # Home's Quick start opens Train on the shapes set: load it now

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
            "pages/inside.py", title="Inspect", icon=":material/visibility:", url_path="inspect"
        ),
        st.Page("pages/classify.py", title="Classify", icon=":material/image_search:"),
        st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
    ],
}


def _old_inspect_link() -> None:
    """/inside (the Inspect page's address before it was /inspect) still opens it."""
    st.switch_page("pages/inside.py")


HIDDEN = [st.Page(_old_inspect_link, title="Inspect", url_path="inside", visibility="hidden")]

page = st.navigation(PAGES | {"": HIDDEN})
try:
    page.run()
finally:  # after the page: a run it just queued shows as the latest run (also after st.stop)
    sidebar(preload=page.url_path == "")  # Home: the page the first chart is opened from
