"""Digit-like images made the way MNIST was made: strokes at full contrast, fitted and centred.

MNIST digits are light strokes on a black (0) background, their longer side scaled into a 20x20
box (anti-aliased) and pasted into 28x28 so that their centre of mass sits at the centre. A photo of
a digit on paper, or a drawing, goes through the same steps here, each a small pure function on
float32 (H, W) arrays in 0..255 (grey levels) or 0..1 (ink strength):

    grey -> decide_invert -> flatten_background -> stretch_ink -> keep_ink -> fit_and_centre

`digit_pipeline` runs them all and returns every intermediate picture for the step strip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
from scipy import ndimage

from cnnlab.data.images import ImageError

WORK_SIDE = 320  # pixels: longer side the photo is reduced to before cleaning (speed; ample detail)
MIN_CONTRAST = 40.0  # grey levels (0..255) between paper and ink below which nothing is written
MIN_CONTRAST_NOISE = 5.0  # ... and the ink must stand this many noise sigmas above the paper
KEEP_SHARE = 0.08  # a blob of ink lighter than this share of the biggest blob is noise (specks)


class NothingToRead(ImageError):
    """The image is blank or nearly so (empty canvas, white page, uniform grey)."""


@dataclass(frozen=True, eq=False)
class DigitSteps:
    grey: np.ndarray  # float32 (h, w) 0..255: the reduced photo in grey, strokes light
    ink: np.ndarray  # float32 (h, w) 0..1: background 0, strokes 1, anti-aliased edges between
    crop: np.ndarray  # float32 (h', w') 0..1: `ink` cut to the bounding box of the ink
    out: np.ndarray  # float32 (H, W) 0..1: fitted into the digit box, centred by centre of mass
    inverted: bool  # the photo was dark ink on light paper and was inverted


def reduce_grey(img: PIL.Image.Image, side: int = WORK_SIDE) -> np.ndarray:
    """float32 (h, w) 0..255 grey of `img`, longer side reduced to <= `side` (area average)."""
    if img.mode not in ("L", "RGB"):  # transparency over white paper, as images.open_image does
        rgba = img.convert("RGBA")
        img = PIL.Image.alpha_composite(PIL.Image.new("RGBA", img.size, "white"), rgba)
        img = img.convert("RGB")
    factor = max(1, max(img.size) // side)
    if factor > 1:
        img = img.reduce(factor)  # box filter: fast and anti-aliased; before the conversion
    return np.asarray(img.convert("L"), dtype=np.float32)


def border_level(g: np.ndarray) -> float:
    """Median of the outermost rows and columns of (h, w): the paper (background) level."""
    return float(np.median(np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])))


def decide_invert(g: np.ndarray) -> bool:
    """True for dark ink on light paper: the image's darker tail is farther from the paper level
    than its lighter tail (works for grey paper and dim photos, where "border > 127" fails)."""
    paper = border_level(g)
    dark, light = np.percentile(g, [0.5, 99.5])
    if abs((paper - dark) - (light - paper)) < 1.0:  # no tail either way: fall back to brightness
        return paper > 127
    return bool(paper - dark > light - paper)


def flatten_background(g: np.ndarray, iterations: int = 4) -> tuple[np.ndarray, float]:
    """(residual, noise): `g` (strokes light) minus a quadratic surface fitted to the paper.

    Gradient lighting across the page is removed this way without hollowing thick strokes (a
    min-filter background would). The fit is robust: it starts from the darker half of the pixels
    (the strokes cover less than half the page), then pixels far above the surface (ink) are left
    out and the surface refitted. `noise` is the paper's robust std (grey levels).
    """
    h, w = g.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = 2 * yy / max(h - 1, 1) - 1, 2 * xx / max(w - 1, 1) - 1  # -1..1
    basis = np.stack([np.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], axis=-1)  # (h, w, 6)
    step = max(1, int(np.sqrt(h * w / 20_000)))  # ~20k pixels are plenty for 6 coefficients
    a = basis[::step, ::step].reshape(-1, 6).astype(np.float64)
    v = g[::step, ::step].reshape(-1).astype(np.float64)
    keep = v <= np.median(v)  # start from the darker half: paper, even under thick strokes
    noise = 0.0
    for _ in range(iterations):
        ak = a[keep]  # normal equations: a 6x6 solve, far cheaper than lstsq on ~20k rows
        coef = np.linalg.solve(ak.T @ ak + 1e-6 * np.eye(6), ak.T @ v[keep])
        r = v - a @ coef
        noise = float(1.4826 * np.median(np.abs(r[keep] - np.median(r[keep]))))
        keep = r < max(2.5 * noise, 2.0)
    return g - basis @ coef.astype(np.float32), noise


def otsu(values: np.ndarray, bins: int = 128) -> float:
    """Otsu's threshold of a 1-D array: the cut maximising the between-class variance."""
    hist, edges = np.histogram(values, bins=bins)
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    total = m0[-1]
    between = (total * w0 - m0) ** 2 / np.clip(w0 * (1 - w0), 1e-12, None)
    return float(centres[int(np.argmax(between[:-1]))])


def stretch_ink(r: np.ndarray, noise: float) -> np.ndarray:
    """float32 (h, w) 0..1 from the flattened residual: paper -> 0, ink -> 1, edges in between.

    A linear stretch between a level just above the paper noise and the typical ink level keeps
    the strokes' anti-aliasing (no hard binarisation). Raises NothingToRead when the ink does not
    stand out from the paper.
    """
    contrast = float(ndimage.uniform_filter(r, size=3).max())  # 3x3 mean: a speck is no ink
    if contrast < max(MIN_CONTRAST, MIN_CONTRAST_NOISE * noise):
        raise NothingToRead(
            f"nothing to read here: the image is blank or nearly so (ink contrast {contrast:.0f} "
            f"grey levels, need {max(MIN_CONTRAST, MIN_CONTRAST_NOISE * noise):.0f}); "
            "write or draw something darker/bigger, or photograph it closer"
        )
    r = np.clip(r, 0, contrast)
    cut = otsu(r[r > max(3 * noise, 1.0)])
    ink_level = float(np.percentile(r[r > cut], 90))  # the strokes' typical middle, not a spike
    low = max(0.5 * cut, 3 * noise)
    high = max(ink_level, low + 1)
    return np.clip((r - low) / (high - low), 0, 1).astype(np.float32)


def keep_ink(s: np.ndarray) -> np.ndarray:
    """`s` with specks removed: only blobs (8-connected) holding >= KEEP_SHARE of the biggest's ink."""
    labels, n = ndimage.label(s > 0, structure=np.ones((3, 3)))
    if n <= 1:
        return s
    mass = ndimage.sum_labels(s, labels, index=np.arange(1, n + 1))
    kept = np.flatnonzero(mass >= KEEP_SHARE * mass.max()) + 1
    return np.where(np.isin(labels, kept), s, 0).astype(np.float32)


def ink_box(s: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), bottom/right exclusive: the bounding box of s > 0."""
    rows, cols = np.flatnonzero(s.any(1)), np.flatnonzero(s.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def fit_and_centre(crop: np.ndarray, box: int, size: tuple[int, int]) -> np.ndarray:
    """float32 `size` (H, W): `crop` scaled so its longer side is `box` pixels (aspect kept,
    anti-aliased), strokes re-stretched to full strength, pasted with its centre of mass at the
    centre of the field (the MNIST recipe), shifted back in where that would cut the digit."""
    h, w = crop.shape
    scale = box / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = PIL.Image.fromarray(crop.astype(np.float32), mode="F")
    fitted = np.asarray(small.resize((new_w, new_h), PIL.Image.Resampling.BILINEAR))
    fitted = np.clip(fitted, 0, None)
    peak = float(np.percentile(fitted[fitted > 0.05], 95)) if (fitted > 0.05).any() else 1.0
    fitted = np.clip(fitted / max(peak, 1e-6), 0, 1)  # thin strokes averaged dim: full again
    cy, cx = ndimage.center_of_mass(fitted)
    height, width = size
    top, left = round(height / 2 - (cy + 0.5)), round(width / 2 - (cx + 0.5))
    # ... but never pushed out of the field (a box as big as the field, e.g. 8x8 digits)
    top = min(max(top, 0), height - new_h) if new_h <= height else top
    left = min(max(left, 0), width - new_w) if new_w <= width else left
    out = np.zeros(size, dtype=np.float32)
    y0, x0 = max(0, top), max(0, left)  # paste, clipped to the field
    y1, x1 = min(height, top + new_h), min(width, left + new_w)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = fitted[y0 - top : y1 - top, x0 - left : x1 - left]
    return out


def digit_pipeline(
    img: PIL.Image.Image, box: int, size: tuple[int, int], invert: bool | None = None
) -> DigitSteps:
    """All steps for one image; `invert` None decides from the image (`decide_invert`).

    Raises NothingToRead for a blank or near-blank image.
    """
    g = reduce_grey(img)
    inverted = decide_invert(g) if invert is None else invert
    if inverted:
        g = 255 - g
    r, noise = flatten_background(g)
    ink = keep_ink(stretch_ink(r, noise))
    if not ink.any():
        raise NothingToRead("nothing to read here: no ink was found in the image")
    top, bottom, left, right = ink_box(ink)
    crop = ink[top:bottom, left:right]
    out = fit_and_centre(crop, box, size)
    return DigitSteps(grey=g, ink=ink, crop=crop, out=out, inverted=inverted)
