"""Train: hyperparameters in a form, one background job per run, a live view that follows it.

No training happens in this script: the form (`pages/ui/train_form.py`) builds a RunConfig and
hands it to the server's job manager (a child process per run); the live panel
(`pages/ui/live_panel.py`) is a fragment that follows the run folder. The session keeps only the
run id, so leaving the page, refreshing or closing the tab loses nothing: coming back shows the
run live again.
"""

from __future__ import annotations

import streamlit as st

from cnnlab.runs import list_runs
from pages.ui import share
from pages.ui.common import ensure_app_shell
from pages.ui.finetune import start_caption
from pages.ui.live_panel import live_panel
from pages.ui.run_status import watched_run
from pages.ui.share_form import take_recipe
from pages.ui.train_form import setup_summary, train_form

# -- inputs ---------------------------------------------------------------------------------------
if "data_cfg" not in st.session_state:  # a deep link on a fresh server skipped app.py;
    ensure_app_shell()  # (only then: its rerun would drop a button click under AppTest)
st.title("Train")
take_recipe()  # the leaderboard's "start from this recipe": before the link is read or published
share_slot, _ = share.begin()
st.caption(
    "Pick hyperparameters and press **Train** (or Ctrl+Enter; **Stop**: Alt+S): the run trains "
    "in the background, so you can leave this page, queue more runs, or close the tab and "
    "come back."
)
setup_col, live_col = st.columns([1, 1.9], gap="large")

# -- state and act: the form submits what it shows -------------------------------------------------
with setup_col:
    st.markdown("#### New run")
    ready, problem = setup_summary()
    start_caption(st.session_state.model_cfg)  # fine-tuning: how the next run starts
    train_form(ready, problem)

# -- render: the followed run ---------------------------------------------------------------------
with live_col:
    st.markdown("#### Watch a run")
    runs = list_runs()  # after the form: a run it just queued is listed
    if not runs:
        st.info(
            "No runs yet. Choose the settings on the left and press **Train**; the loss "
            "appears here within seconds.",
            icon=":material/info:",
        )
    else:
        live_panel(watched_run(runs))

share.end(share_slot)
