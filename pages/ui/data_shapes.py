"""The Data page's difficulty controls for the generated `shapes` set, with a live preview.

A difficulty level sets every knob (`cnnlab.data.shapes.LEVELS`); each knob can then be moved on
its own. A knob left at its level's value is saved as "from the level" (PRESET), so the run's
config says which knobs were changed by hand. "Use these shapes" makes it the session's dataset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from cnnlab import gallery
from cnnlab.config import PRESET, DataConfig, ShapesConfig
from cnnlab.data.shapes import LEVELS, SHAPE_CLASSES, preview_shapes, shapes_knobs
from pages.ui.charts import chart_config

CHART = chart_config("shapes preview")
LEVEL_NAMES = {0: "0 clean", 1: "1 light", 2: "2 medium", 3: "3 hard"}
SET_SIZES = [600, 1200, 3000, 6000, 12000, 30000]  # images: train + validation + test
KNOBS = {  # knob -> (label, min, max, step, display format, help); shape size: a range slider
    "noise": ("Pixel noise (std)", 0.0, 0.5, 0.01, "%.2f", "Gaussian noise, share of full brightness"),
    "clutter": ("Background clutter", 0.0, 1.0, 0.05, "%.2f", "texture and stray strokes, strength"),
    "rotation": ("Rotation (± degrees)", 0.0, 180.0, 5.0, "%.0f°", "0 = upright, 180 = any angle"),
    "occlusion": ("Occlusion", 0.0, 1.0, 0.05, "%.2f", "share of images with a box over part of the shape"),
    "label_noise": ("Label noise", 0.0, 0.5, 0.01, "%.2f", "share of training labels set to a wrong class"),
}  # fmt: skip
SCALE_HELP = "shape radius, share of half the image side"


def _set_level_values() -> None:
    """on_change of the level: every knob control takes the new level's value."""
    level = shapes_knobs(ShapesConfig(st.session_state.sh_difficulty))
    for name in KNOBS:
        st.session_state[f"sh_{name}"] = getattr(level, name)
    st.session_state.sh_scale = (level.scale_min, level.scale_max)


def _seed(cfg: DataConfig) -> None:
    """Controls take `cfg`'s values when they are new or the dataset changed elsewhere."""
    ss = st.session_state
    if ss.get("sh_from") == cfg and "sh_difficulty" in ss:
        return
    knobs = shapes_knobs(cfg.shapes)
    ss.sh_difficulty, ss.sh_size, ss.sh_from = knobs.difficulty, cfg.num_images, cfg
    for name in KNOBS:
        ss[f"sh_{name}"] = getattr(knobs, name)
    ss.sh_scale = (knobs.scale_min, knobs.scale_max)


def _from_controls() -> ShapesConfig:
    """The ShapesConfig the controls show: knobs equal to the level's value stay PRESET."""
    ss = st.session_state
    level = LEVELS[ss.sh_difficulty]
    values = {name: float(ss[f"sh_{name}"]) for name in KNOBS}
    values["scale_min"], values["scale_max"] = (float(v) for v in ss.sh_scale)
    kept = {k: (PRESET if abs(v - getattr(level, k)) < 1e-9 else v) for k, v in values.items()}
    return ShapesConfig(difficulty=ss.sh_difficulty, **kept)


@st.cache_data(show_spinner=False, max_entries=64)
def shapes_figure(cfg: DataConfig) -> go.Figure:
    x, y = preview_shapes(cfg)
    titles = [SHAPE_CLASSES[int(k)] if i < len(SHAPE_CLASSES) else "" for i, k in enumerate(y)]
    return gallery.tiles_figure(gallery.Tiles(x, titles, cols=len(SHAPE_CLASSES)))


@st.fragment
def shapes_controls(
    cfg: DataConfig, use: Callable[[DataConfig], None], disabled: bool = False
) -> None:
    """Difficulty controls and a preview of the images they make; `use(new)` applies them
    (`disabled`: the dataset is locked by a link or a lesson)."""
    _seed(cfg)
    controls, preview = st.columns([2, 3], gap="large")
    with controls:
        st.select_slider(
            "Difficulty", list(LEVELS), format_func=LEVEL_NAMES.get, key="sh_difficulty",
            on_change=_set_level_values, help="sets every knob below; then move any of them",
            disabled=disabled,
        )  # fmt: skip
        columns = st.columns(2)
        for i, (name, (label, low, high, step, shown, why)) in enumerate(KNOBS.items()):
            columns[i % 2].slider(
                label, low, high, step=step, format=shown, key=f"sh_{name}", help=why,
                disabled=disabled,
            )  # fmt: skip
        columns[1].slider(
            "Shape size (range)", 0.15, 1.0, step=0.05, key="sh_scale", help=SCALE_HELP,
            disabled=disabled,
        )  # fmt: skip
        columns[0].select_slider(
            "Images in the set", SET_SIZES, key="sh_size", help="train + val + test",
            disabled=disabled,
        )  # fmt: skip
    try:
        new = dataclasses.replace(cfg, num_images=st.session_state.sh_size, shapes=_from_controls())
        shapes_knobs(new.shapes)
    except ValueError as exc:
        preview.error(f"These settings cannot be used: {exc}", icon=":material/error:")
        return
    with preview:
        st.plotly_chart(shapes_figure(new), config=CHART, key="shapes_grid")
        note = "Label noise changes training labels only; the preview shows the true class."
        st.caption("Generated with these settings (a fresh sample, same seed). " + note)
        if new == cfg:
            st.caption(":material/check_circle: These are the shapes in use.")
        elif st.button(
            "Use these shapes", type="primary", key="sh_use", icon=":material/done:",
            disabled=disabled,
        ):  # fmt: skip
            use(new)
