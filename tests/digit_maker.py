"""Digit-like images that are not MNIST: digits rendered with PIL fonts at varied size, position,
stroke thickness, rotation, colour and background, saved as a folder of class folders (`0/`,
`1/`, ...) the way a user imports their own images (`DataConfig(name="folder", path=...)`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_FILES = (  # used when present; Pillow's bundled font always is
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
)


def _font(rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont:
    files = [f for f in FONT_FILES if Path(f).is_file()]
    pick = int(rng.integers(len(files) + 1))
    if pick == len(files):
        return ImageFont.load_default(size=size)  # type: ignore[return-value]
    return ImageFont.truetype(files[pick], size)


def render_digit(digit: int, rng: np.random.Generator, side: int = 28) -> Image.Image:
    """One RGB `side` x `side` image of `digit`: a light stroke on a darker, coloured ground."""
    big = side * 4  # drawn large, then rotated and shrunk (smooth edges)
    ground = rng.integers(0, 90, 3)
    ink = rng.integers(150, 256, 3)
    img = Image.new("RGB", (big, big), tuple(int(v) for v in ground))
    draw = ImageDraw.Draw(img)
    font = _font(rng, int(big * rng.uniform(0.7, 0.9)))
    stroke = int(rng.integers(2, 8))
    text = str(digit)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    room_x, room_y = big - (right - left), big - (bottom - top)
    x = rng.uniform(0.35, 0.65) * max(room_x, 0) - left  # near the centre, as in MNIST
    y = rng.uniform(0.35, 0.65) * max(room_y, 0) - top
    colour = tuple(int(v) for v in ink)
    draw.text((x, y), text, fill=colour, font=font, stroke_width=stroke, stroke_fill=colour)
    img = img.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR, fillcolor=tuple(ground))
    img = img.resize((side, side), Image.LANCZOS)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    return img


def make_digit_folder(
    path: Path, per_class: int, *, classes: tuple[int, ...] = tuple(range(10)), seed: int = 0
) -> Path:
    """`path/<digit>/<i>.png`, `per_class` images of each digit in `classes`; returns `path`."""
    rng = np.random.default_rng(seed)
    for digit in classes:
        folder = path / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            render_digit(digit, rng).save(folder / f"{i:04d}.png")
    return path
