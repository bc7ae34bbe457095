"""Home: what the lab does, a one-click quick start, and a map of the other pages.

Needs no data, files or network: the quick start trains on the generated shapes.
"""

import streamlit as st

from cnnlab.classroom.lesson import PolicyError
from cnnlab.recipes import default_run_config
from cnnlab.text import md_escape
from pages.ui import common
from pages.ui.submit import submit_run

HERO = "assets/hero.png"  # made by `python -m cnnlab.gallery`
PAGES = [  # (file, title, icon, what it is for)
    (
        "pages/data.py",
        "Data",
        ":material/photo_library:",
        "Pick a dataset or upload a zip of your own images; see samples, class counts, augmentation.",
    ),
    (
        "pages/model.py",
        "Model",
        ":material/account_tree:",
        "Choose a preset network or build one block by block; see its layers, size and cost.",
    ),
    (
        "pages/train.py",
        "Train",
        ":material/play_circle:",
        "Set the training recipe and watch loss and accuracy live while the job runs.",
    ),
    (
        "pages/runs.py",
        "Runs",
        ":material/history:",
        "Every training run with its settings and results: compare, resume, export or delete.",
    ),
    (
        "pages/evaluate.py",
        "Evaluate",
        ":material/fact_check:",
        "Accuracy on held-out images, per-class scores, the confusion matrix and the worst mistakes.",
    ),
    (
        "pages/inspect.py",
        "Inspect",
        ":material/visibility:",
        "Look inside a trained network: filters, feature maps and Grad-CAM heat maps.",
    ),
    (
        "pages/classify.py",
        "Classify",
        ":material/image_search:",
        "Upload or draw an image and see what a trained network thinks it is.",
    ),
    (
        "pages/learn.py",
        "Learn",
        ":material/school:",
        "Short explanations of convolutions, pooling, training and the ideas behind the lab.",
    ),
]

common.ensure_app_shell()  # a deep link on a fresh server must still run app.py
recipe = default_run_config("shapes")

st.title("cnnlab")
st.subheader("A lab for convolutional neural networks, in your browser")
intro, picture = st.columns([5, 4], gap="large")
with intro:
    st.markdown(
        "Train an image classifier and see what it learned, without writing code:\n"
        "1. **Data**: built-in datasets or your own images, with augmentation you can see.\n"
        "2. **Model**: a classic CNN, ResNet, MobileNet... or your own stack of conv blocks.\n"
        "3. **Train** on this computer's CPU while the curves update live.\n"
        "4. **Understand** the result: per-class errors, feature maps, Grad-CAM, and live "
        "predictions on your own pictures."
    )
    quick = st.button(
        "Quick start: train a network now", type="primary", icon=":material/rocket_launch:"
    )
    st.caption(
        f"Trains {common.model_label(recipe.model)} for {recipe.train.epochs} epochs on "
        f"{recipe.data.num_images:,} generated shapes in six classes at difficulty "
        f"{recipe.data.shapes.difficulty} of 3 (under a minute on a laptop CPU, to about 93% "
        "accuracy: enough mistakes to study on Evaluate) and opens the live training view. "
        "Nothing to download."
    )
with picture:
    st.image(HERO, caption="The generated shapes dataset: six classes to tell apart.")

st.divider()
st.markdown("#### The pages")
columns = st.columns(4)
for i, (path, title, icon, blurb) in enumerate(PAGES):
    with columns[i % 4].container(border=True, height="stretch"):
        st.page_link(path, label=title, icon=icon)
        st.caption(blurb)

if quick:  # act last; data and model follow the recipe so every page agrees on what is trained
    try:  # owned by this session; a student's run passes the lesson's rules and class limits
        run_id, _ = submit_run(recipe)  # a burst of clicks starts one run
    except PolicyError as exc:
        st.error(md_escape(exc), icon=":material/block:")
        st.stop()
    st.session_state.data_cfg = recipe.data
    st.session_state.model_cfg = recipe.model
    st.session_state.run_id = run_id
    st.switch_page("pages/train.py")
