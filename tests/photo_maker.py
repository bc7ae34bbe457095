"""Realistic test photos of digits: printed (system fonts) or handwritten (thick jittered
polylines) on grey or cream paper, with gradient lighting, an off-centre position, a few degrees
of rotation, slight perspective, blur, sensor noise and JPEG compression; 300-640 px, square,
portrait or landscape. Also canvas drawings as streamlit-drawable-canvas returns them (RGBA).

Used by tests/test_preprocess_photos.py and bench/bench_photos.py. Seeded: same seed, same photo.
"""

from __future__ import annotations

import io
import math
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFilter
import PIL.ImageFont

FONT_DIRS = [Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts")]
# unit-box strokes per digit (x, y in 0..1, y down); a digit is one or more polylines
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    1: [[(0.3, 0.18), (0.55, 0.0), (0.55, 1.0)]],
    2: [
        [(0.12, 0.25), (0.3, 0.04), (0.6, 0.0), (0.85, 0.2), (0.8, 0.45), (0.12, 1.0), (0.92, 1.0)]
    ],
    3: [
        [(0.15, 0.1), (0.5, 0.0), (0.82, 0.15), (0.78, 0.38), (0.45, 0.5)],
        [(0.45, 0.5), (0.82, 0.62), (0.86, 0.85), (0.5, 1.0), (0.12, 0.9)],
    ],
    4: [[(0.72, 1.0), (0.72, 0.0), (0.08, 0.66), (0.95, 0.66)]],
    5: [
        [
            (0.85, 0.0),
            (0.25, 0.0),
            (0.18, 0.45),
            (0.55, 0.38),
            (0.86, 0.6),
            (0.8, 0.9),
            (0.45, 1.0),
            (0.12, 0.88),
        ]
    ],
    6: [
        [
            (0.78, 0.05),
            (0.42, 0.18),
            (0.18, 0.58),
            (0.25, 0.92),
            (0.55, 1.0),
            (0.82, 0.82),
            (0.75, 0.56),
            (0.42, 0.5),
            (0.2, 0.68),
        ]
    ],
    7: [[(0.08, 0.02), (0.92, 0.0), (0.62, 0.45), (0.42, 1.0)]],
}


def _circle(cx: float, cy: float, rx: float, ry: float, start: float = 0.0) -> list:
    return [
        (
            cx + rx * math.cos(start + t * 2 * math.pi / 24),
            cy + ry * math.sin(start + t * 2 * math.pi / 24),
        )
        for t in range(25)
    ]


STROKES[0] = [_circle(0.5, 0.5, 0.42, 0.5)]
STROKES[8] = [
    _circle(0.5, 0.24, 0.3, 0.24, math.pi / 2),
    _circle(0.5, 0.74, 0.38, 0.26, -math.pi / 2),
]
STROKES[9] = [_circle(0.48, 0.28, 0.34, 0.28), [(0.82, 0.28), (0.78, 0.65), (0.62, 1.0)]]


@lru_cache(maxsize=1)
def fonts() -> list[str]:
    """TrueType fonts with plain digits (DejaVu, Liberation, ...): not math/symbol fonts."""
    found = []
    for root in FONT_DIRS:
        found += [str(p) for p in sorted(root.rglob("*.ttf")) if "Math" not in p.name]
    return sorted(set(found))


def _handwritten_mask(digit: int, height: int, rng: np.random.Generator) -> PIL.Image.Image:
    """L mask (ink 255) of a hand-drawn digit `height` px tall: jittered thick polylines."""
    width = round(height * rng.uniform(0.55, 0.75))
    pad = height // 4
    mask = PIL.Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
    draw = PIL.ImageDraw.Draw(mask)
    pen = max(2, round(height * rng.uniform(0.07, 0.12)))
    slant = rng.uniform(-0.15, 0.15)  # italic lean, as a share of the height
    for line in STROKES[digit]:
        jit = rng.normal(0, 0.025, size=(len(line), 2))
        pts = [
            (pad + (x + j[0] + slant * (1 - y)) * width, pad + (y + j[1]) * height)
            for (x, y), j in zip(line, jit, strict=True)
        ]
        draw.line(pts, fill=255, width=pen, joint="curve")
        r = pen / 2
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return mask


def _printed_mask(digit: int, height: int, rng: np.random.Generator) -> PIL.Image.Image:
    """L mask (ink 255) of `digit` in a random system font, about `height` px tall."""
    font = PIL.ImageFont.truetype(str(rng.choice(fonts())), size=round(height * 1.35))
    left, top, right, bottom = font.getbbox(str(digit))
    pad = height // 4
    mask = PIL.Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    PIL.ImageDraw.Draw(mask).text((pad - left, pad - top), str(digit), fill=255, font=font)
    return mask


def _paper(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """float32 (H, W, 3) paper: grey or cream, lit by a linear gradient in a random direction."""
    w, h = size
    if rng.random() < 0.5:
        base = np.full(3, rng.uniform(150, 225))  # grey paper / grey-looking white in dim light
    else:
        base = np.array([rng.uniform(225, 250), rng.uniform(212, 235), rng.uniform(170, 205)])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xx / w - 0.5) * math.cos(angle) + (yy / h - 0.5) * math.sin(angle)
    light = 1 + rng.uniform(0.1, 0.35) * ramp  # up to +-17% brighter/darker across the page
    return base[None, None, :] * light[..., None]


def make_photo(
    digit: int,
    seed: int,
    kind: str = "printed",
    quality: int | None = None,
    size: tuple[int, int] | None = None,
) -> bytes:
    """JPEG bytes of a photo of `digit` ("printed" or "handwritten") on paper; see module doc.
    `size` (width, height) fixes the photo's size (default: random, 300-640 px)."""
    img = photo_image(digit, seed, kind, size)
    out = io.BytesIO()
    quality = quality or int(np.random.default_rng(seed + 1).integers(55, 92))
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def photo_image(
    digit: int, seed: int, kind: str = "printed", size: tuple[int, int] | None = None
) -> PIL.Image.Image:
    """The RGB photo of `make_photo` before JPEG compression."""
    rng = np.random.default_rng(seed)
    shape = rng.choice(["square", "portrait", "landscape"])
    long_side = int(rng.integers(300, 641))
    short = int(long_side * rng.uniform(0.65, 0.85))
    size = size or {"square": (long_side, long_side), "portrait": (short, long_side)}.get(
        str(shape), (long_side, short)
    )
    height = round(min(size) * rng.uniform(0.35, 0.6))  # digit height, px
    maker = _printed_mask if kind == "printed" else _handwritten_mask
    mask = maker(digit, height, rng).rotate(
        rng.uniform(-8, 8), PIL.Image.Resampling.BILINEAR, expand=True
    )
    shear = rng.uniform(-0.06, 0.06)  # slight perspective: an affine shear/stretch
    mw, mh = mask.size
    mask = mask.transform(
        (mw, mh),
        PIL.Image.Transform.AFFINE,
        (1, shear, -shear * mh / 2, 0, rng.uniform(0.94, 1.06), 0),
        PIL.Image.Resampling.BILINEAR,
    )
    canvas = PIL.Image.new("L", size, 0)
    cx = size[0] / 2 + rng.uniform(-0.15, 0.15) * size[0]
    cy = size[1] / 2 + rng.uniform(-0.15, 0.15) * size[1]
    canvas.paste(mask, (round(cx - mw / 2), round(cy - mh / 2)), mask)
    alpha = np.asarray(canvas, dtype=np.float32)[..., None] / 255  # (H, W, 1) ink coverage
    ink = np.array([rng.uniform(10, 70)] * 3) + rng.uniform(0, 20, size=3)  # dark, not pure black
    paper = _paper(size, rng)
    photo = paper * (1 - alpha) + ink[None, None, :] * alpha
    photo += rng.normal(0, rng.uniform(2, 7), size=photo.shape)  # sensor noise
    img = PIL.Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), "RGB")
    return img.filter(PIL.ImageFilter.GaussianBlur(rng.uniform(0.6, 1.8)))


def y4m_video(img: PIL.Image.Image, frames: int = 10) -> bytes:
    """A still .y4m video of `img` (even width and height) for Chromium's fake camera
    (`--use-file-for-fake-video-capture`): 4:2:0 full-range YCbCr (JPEG) planes per frame."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    h, w = rgb.shape[:2]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128

    def plane(p: np.ndarray) -> bytes:
        return np.clip(p, 0, 255).round().astype(np.uint8).tobytes()

    def half(p: np.ndarray) -> np.ndarray:
        return p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    frame = b"FRAME\n" + plane(y) + plane(half(u)) + plane(half(v))
    return f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * frames


def canvas_drawing(digit: int, seed: int, side: int = 280) -> bytes:
    """PNG bytes of a big digit drawn with the mouse: white ink on an opaque black RGBA canvas."""
    rng = np.random.default_rng(seed)
    mask = _handwritten_mask(digit, round(side * rng.uniform(0.6, 0.72)), rng)
    mask = mask.rotate(rng.uniform(-5, 5), PIL.Image.Resampling.BILINEAR, expand=True)
    canvas = PIL.Image.new("L", (side, side), 0)
    off = rng.uniform(-0.06, 0.06, size=2) * side
    canvas.paste(
        mask,
        (round((side - mask.width) / 2 + off[0]), round((side - mask.height) / 2 + off[1])),
        mask,
    )
    rgba = PIL.Image.merge("RGBA", [canvas, canvas, canvas, PIL.Image.new("L", (side, side), 255)])
    out = io.BytesIO()
    rgba.save(out, "PNG")
    return out.getvalue()


def photo_set(n: int, seed: int = 0) -> list[tuple[int, str, bytes]]:
    """`n` (digit, kind, JPEG bytes): digits cycling 0-9, printed and handwritten alternating."""
    kinds = ["printed", "handwritten"]
    return [
        (i % 10, kinds[(i // 10) % 2], make_photo(i % 10, seed * 100_003 + i, kinds[(i // 10) % 2]))
        for i in range(n)
    ]


# The default MNIST recipe (`python -m cnnlab train --dataset mnist`), whose model the targets
# are measured with (tests/test_preprocess_photos.py, bench/bench_photos.py).
TRAIN_MNIST = [sys.executable, "-m", "cnnlab", "train", "--dataset", "mnist", "--threads", "2"]
