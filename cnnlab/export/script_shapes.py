"""The standalone script's data section for the generated `shapes` set: the lab's own generator
(`cnnlab.data.shapes`, numpy + torch only) copied into the script with `inspect.getsource`, its
difficulty knobs resolved when the script is written, and its label noise (training split only).

`tests/test_export.py` executes this code and checks that it draws the lab's very images.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import fields

from cnnlab.config import DataConfig
from cnnlab.data import shapes as lab_shapes

# The generator's functions, in an order where each is defined before it is called.
FUNCTIONS = ("_circle", "_square", "_triangle", "_star", "_cross", "_ring", "_hsv_to_rgb")
FUNCTIONS += ("_streams", "_draws", "_upsample_matrix", "_texture", "_coverage", "_render")
FUNCTIONS += ("make_shapes", "flip_labels")
KNOBS_LINE = "knobs = shapes_knobs(shapes or ShapesConfig())"  # the line make_shapes resolves with


class ShapesCodeError(ValueError):
    """The lab's shapes generator no longer has the shape this writer copies (a code change)."""


def shapes_class() -> str:
    """The settings section's `ShapesConfig` (the knobs, resolved: no presets left)."""
    lines = ["@dataclass(frozen=True)", "class ShapesConfig:"]
    lines.append(
        '    """How hard the generated set is (the difficulty level\'s resolved knobs)."""'
    )
    lines.append("")
    for f in fields(lab_shapes.ShapesConfig):
        kind = "int" if f.name == "difficulty" else "float"
        lines.append(f"    {f.name}: {kind} = 0")
    return "\n".join(lines) + "\n"


def shapes_settings(cfg: DataConfig) -> list[str]:
    """Settings lines: the set's size and knobs."""
    knobs = lab_shapes.shapes_knobs(cfg.shapes)
    values = ", ".join(f"{f.name}={getattr(knobs, f.name)!r}" for f in fields(knobs))
    return [
        f"NUM_IMAGES = {cfg.num_images}  # images generated (train + validation + test)",
        f"IMAGE_SIZE = {cfg.image_size or 32}  # side, pixels",
        f"SHAPES = ShapesConfig({values})",
    ]


def shapes_code() -> str:
    """The generator and `load_images()`; ShapesCodeError if the lab's code changed shape."""
    parts = [
        f"SHAPE_CLASSES = {lab_shapes.SHAPE_CLASSES!r}",
        f"_STROKES = {lab_shapes._STROKES}  # stray strokes per image at most",
    ]
    for name in FUNCTIONS:
        source = textwrap.dedent(inspect.getsource(getattr(lab_shapes, name)))
        if name == "make_shapes":
            if KNOBS_LINE not in source:
                raise ShapesCodeError("the shapes generator changed: the script cannot copy it")
            source = source.replace(KNOBS_LINE, "knobs = shapes  # resolved in the settings")
        parts.append(source.strip())
        if name == "_ring":
            parts.append("_SHAPE_SDFS = (_circle, _square, _triangle, _star, _cross, _ring)")
    parts.append(LOAD)
    return "\n\n\n".join(p.strip() for p in parts) + "\n"


LOAD = '''
def load_images():
    """The generated shapes (the lab's generator above): NUM_IMAGES images, no test split."""
    x, y = make_shapes(NUM_IMAGES, IMAGE_SIZE, DATA_SEED, SHAPES)
    return list(SHAPE_CLASSES), x, y, None, None
'''
