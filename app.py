"""cnnlab: a browser lab for convolutional neural networks. Run with `streamlit run app.py`."""

import streamlit as st

from pages import common

st.set_page_config(page_title="cnnlab", page_icon="assets/logo.png", layout="wide")
common.init_state()

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
        st.Page("pages/inside.py", title="Inspect", icon=":material/visibility:"),
        st.Page("pages/classify.py", title="Classify", icon=":material/image_search:"),
        st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
    ],
}

page = st.navigation(PAGES)
common.sidebar()
page.run()
