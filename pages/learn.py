"""Learn: the ideas behind a CNN, each one a short text next to a live control and its result.

One image flows through the tabs: convolution -> activation -> pooling -> flatten + dense ->
softmax + cross-entropy; then gradient descent on a 2-weight loss, and the user's own model on the
same image. Part two, how a network learns: backpropagation, batch-norm and dropout, overfitting,
augmentation (drawn only while open: two of them train tiny nets). Each tab ends with questions.
The maths and figures live in cnnlab.learn, each tab's widgets in pages/ui/lessons_*.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from cnnlab import learn
from cnnlab.classify import IMAGE_TYPES
from cnnlab.config import DataConfig
from cnnlab.data import SHAPE_CLASSES, DatasetUnavailable
from cnnlab.data.images import ImageError, open_image
from cnnlab.text import md_escape
from pages.ui import common, share
from pages.ui.class_quiz import student_question
from pages.ui.lessons import TABS
from pages.ui.lessons_augment import augment_lesson_tab
from pages.ui.lessons_backprop import backprop_lesson
from pages.ui.lessons_convolution import convolution_lesson
from pages.ui.lessons_features import activation_lesson, classes_lesson, pooling_lesson
from pages.ui.lessons_learning import learning_lesson, your_model_lesson
from pages.ui.lessons_norm import norm_lesson
from pages.ui.lessons_overfit import overfit_lesson
from pages.ui.lessons_quiz import check_questions

UPLOAD = "Upload your own image"


def image_sources(current: DataConfig) -> dict[str, DataConfig | None]:
    """Selectbox label -> the dataset to take the image from (None: an upload)."""
    sources = {
        "Shapes (32×32 colour)": DataConfig(),
        "Digits (8×8 gray)": DataConfig(name="digits"),
    }
    if current.name not in ("shapes", "digits"):
        sources[f"Your dataset: {common.data_label(current)}"] = current
    sources[UPLOAD] = None
    return sources


def uploaded_lesson(slot: DeltaGenerator) -> learn.LessonImage:
    """The user's upload, or a shapes image until there is a readable one."""
    file = slot.file_uploader(
        "An image (PNG, JPEG, …)",
        key="learn_upload",
        type=IMAGE_TYPES,
        max_upload_size=common.IMAGE_UPLOAD_MB,
    )
    if file is not None and not common.upload_too_large(file.size):
        try:
            return learn.uploaded_image(open_image(file.getvalue()), file.name, list(SHAPE_CLASSES))
        except ImageError as exc:
            st.error(str(exc), icon=":material/broken_image:")
    st.caption("Until you upload one, the lessons use a shapes image.")
    return learn.dataset_image(common.dataset_for(DataConfig()), 0)


def dataset_lesson(slot: DeltaGenerator, cfg: DataConfig, source: str) -> learn.LessonImage:
    """Test image number n of `cfg`'s dataset (the built-in shapes when it cannot be loaded)."""
    try:
        dataset = common.dataset_for(cfg)
    except (DatasetUnavailable, ValueError) as exc:
        st.error(
            f"{md_escape(exc)} Using the built-in shapes instead.", icon=":material/cloud_off:"
        )
        dataset = common.dataset_for(DataConfig())
    number = slot.number_input("Image number", 0, len(dataset.test) - 1, 0, key=f"learn_n_{source}")
    return learn.dataset_image(dataset, int(number))


common.ensure_app_shell()  # a deep link on a fresh server still goes through app.py
st.title("Learn: how a CNN works")
share_slot, _ = share.begin()  # a link's tab and kernel
student_question()  # classroom mode: the question the teacher pushed, if any
st.caption(
    "Ten ideas behind every CNN. Pick an image; tabs 1-4 each work on the result of the one "
    "before, tabs 7-10 show how a network learns and why it fails."
)

# -- inputs: the image every tab uses ------------------------------------------------------------
sources = image_sources(st.session_state.data_cfg)
pick, which, preview, about = st.columns([3, 3, 1, 2], vertical_alignment="bottom")
source = pick.selectbox("Image from", list(sources), key="learn_source")
if source == UPLOAD:
    lesson = uploaded_lesson(which)
else:
    lesson = dataset_lesson(which, sources[source], source)
preview.image(learn.enlarged(lesson.picture, 72))
about.markdown(lesson.caption)

# -- render: each tab works on the result of the one before -------------------------------------
tabs = st.tabs(TABS, key="learn_tab", on_change="rerun")  # the open tab goes into the URL
with tabs[0]:
    feature = convolution_lesson(lesson.gray)  # (H', W')
    check_questions("convolution")
with tabs[1]:
    act, activated = activation_lesson(feature)
    check_questions("activation")
with tabs[2]:
    pooled = pooling_lesson(activated, act)
    check_questions("pooling")
with tabs[3]:
    classes_lesson(pooled, lesson)
    check_questions("classes")
with tabs[4]:
    learning_lesson()
    check_questions("learning")
with tabs[5]:
    your_model_lesson(lesson.picture)
# -- part two, how it learns: each tab drawn only while it is open (they train tiny nets) -------
with tabs[6]:
    if tabs[6].open:
        backprop_lesson(lesson)
with tabs[7]:
    if tabs[7].open:
        norm_lesson()
with tabs[8]:
    if tabs[8].open:
        overfit_lesson()
with tabs[9]:
    if tabs[9].open:
        augment_lesson_tab()
share.end(share_slot)
