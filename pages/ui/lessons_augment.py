"""Tab 10 of the Learn page: each augmentation on its own over a batch, and why flipping is
wrong for digits (measured per class)."""

from __future__ import annotations

import streamlit as st
import torch

from cnnlab import plots
from cnnlab.config import DataConfig
from cnnlab.learn import augment_lesson
from cnnlab.text import md_escape
from pages.ui import common
from pages.ui.lessons import lesson_columns, plot, see_in_lab
from pages.ui.lessons_quiz import check_questions

SETS = {"shapes": "Shapes", "digits": "Digits"}
SHOWN = 8  # images per row


@st.cache_data(show_spinner=False, max_entries=4)
def flip_check(name: str) -> augment_lesson.FlipCheck:
    return augment_lesson.flip_check(common.dataset_for(DataConfig(name=name)))


def explain() -> None:
    st.subheader("Augmentation")
    st.markdown(
        "**Augmentation** trains on random variants of each image, fresh every epoch: "
        "shifted, cropped, turned, recoloured, partly blanked. The network sees more "
        "different images without anyone labelling more, and cannot memorise one exact "
        "picture. Validation and test images are never augmented."
    )
    st.markdown(
        "A transform is only right if **the label survives it**. A mirrored star is still a "
        "star; a mirrored 3 is no 3. The bars on the right measure it: a classifier that "
        "compares each image with the average of every class, before and after a mirror."
    )
    see_in_lab("data", "report")


def gallery() -> None:
    """One row per transform over the same images."""
    c = st.columns([1, 2, 1])
    name = c[0].radio("Images", list(SETS), format_func=SETS.get, key="learn_aug_data")
    names = c[1].multiselect(
        "Transforms", list(augment_lesson.TRANSFORMS), list(augment_lesson.TRANSFORMS),
        key="learn_aug_which",
    )  # fmt: skip
    seed = c[2].number_input("Random draw", 0, 999, 0, key="learn_aug_seed")
    strength = st.slider("Strength s", 0.05, 1.0, 0.5, step=0.05, key="learn_aug_strength")
    dataset = common.dataset_for(DataConfig(name=name))
    x = dataset.test.x[:SHOWN]  # uint8 (8, C, H, W)
    rows = augment_lesson.transform_rows(x, names, strength, int(seed))
    images = torch.cat([x, *[batch for _, batch in rows]])
    titles = []
    for title in ["original", *[n for n, _ in rows]]:
        titles += [title] + [""] * (SHOWN - 1)
    st.plotly_chart(
        plots.image_grid(images, titles, cols=SHOWN, upscale_to=64), **plot("augmentations")
    )
    for n in names:
        st.caption(f"**{n}**: {md_escape(augment_lesson.TRANSFORMS[n][0])}")
    if "flip" in names and not dataset.hflip_ok:
        st.warning(
            f"{md_escape(dataset.title)}: the lab never flips these in training (a mirrored "
            "digit is another symbol), even when the Train form asks for flips.",
            icon=":material/flip:",
        )


def flips() -> None:
    """Digits as they are and mirrored, and per class how often they are still recognised."""
    st.markdown("**Does the label survive a mirror?** One test digit per class, then mirrored:")
    digits = common.dataset_for(DataConfig(name="digits"))
    first = [int((digits.test.y == k).nonzero()[0, 0]) for k in range(digits.num_classes)]
    x = digits.test.x[first]  # uint8 (10, 1, 8, 8)
    st.plotly_chart(
        plots.image_grid(
            torch.cat([x, x.flip(-1)]),
            ["as it is"] + [""] * (len(first) - 1) + ["mirrored"] + [""] * (len(first) - 1),
            cols=len(first),
            upscale_to=56,
        ),
        **plot("mirrored digits"),
    )
    check = flip_check("digits")
    st.plotly_chart(augment_lesson.flip_figure(check, "digits"), **plot("flip digits"))
    names = check.class_names
    keeps = [names[k] for k in range(len(names)) if check.kept_flipped[k] >= 0.7 * check.kept[k]]
    lost = [names[k] for k in range(len(names)) if check.kept_flipped[k] < 0.2]
    st.caption(
        f"Mirrored, **{', '.join(keeps) or 'none'}** are still recognised (they look alike "
        f"in a mirror); **{', '.join(lost) or 'none'}** almost never. Flipping would teach the "
        "network that these mirror images are digits too. Shapes are another matter: a "
        "mirrored star is a star, so the lab allows flips there."
    )


def augment_lesson_tab() -> None:
    text, result = lesson_columns()
    with text:
        explain()
    with result:
        gallery()
        flips()
    check_questions("augment")
