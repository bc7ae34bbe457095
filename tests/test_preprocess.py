"""The MNIST-style digit preprocessing and photo crop/pad, step by step, on hand-made images.

References: MNIST's own procedure (longer side in a 20x20 box, centre of mass at the centre of
28x28; measured here with scipy.ndimage), and geometry (a circle must stay a circle).
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import PIL.ImageDraw
import pytest
import torch
from scipy import ndimage

from cnnlab.config import Preprocess
from cnnlab.data import compute_preprocess
from cnnlab.data.images import ImageError
from cnnlab.digitprep import decide_invert, flatten_background, otsu, reduce_grey
from cnnlab.inference import NothingToRead, prepare_image, prepare_steps

MNIST = Preprocess(input_shape=(1, 28, 28), mean=(0.13,), std=(0.31,), style="digit", digit_box=20)
RGB = Preprocess(input_shape=(3, 32, 32), style="photo")


def seven(
    size: tuple[int, int] = (300, 300),
    centre: tuple[float, float] = (0.5, 0.5),
    height: float = 0.5,
    paper: int = 255,
    ink: int = 0,
    angle: float = 0.0,
    width: float = 0.08,
) -> PIL.Image.Image:
    """A '7' (RGB) `height` x the shorter side tall at `centre` (shares of W, H) on flat paper."""
    w, h = size
    side = height * min(size)
    mask = PIL.Image.new("L", (round(side * 1.6), round(side * 1.6)), 0)
    m = mask.width / 2
    pts = [
        (m - 0.3 * side, m - 0.5 * side),
        (m + 0.3 * side, m - 0.5 * side),
        (m - 0.05 * side, m + 0.5 * side),
    ]
    PIL.ImageDraw.Draw(mask).line(pts, fill=255, width=max(1, round(width * side)), joint="curve")
    mask = mask.rotate(angle, PIL.Image.Resampling.BILINEAR)
    img = PIL.Image.new("RGB", size, (paper,) * 3)
    img.paste((ink,) * 3, (round(centre[0] * w - m), round(centre[1] * h - m)), mask)
    return img


def ink_stats(x: torch.Tensor) -> tuple[int, tuple[float, float]]:
    """(longer side of the ink's bounding box, (row, col) centre of mass) of a (1, H, W) input."""
    a = x[0].numpy().astype(np.float64)
    rows, cols = np.flatnonzero((a > 0).any(1)), np.flatnonzero((a > 0).any(0))
    side = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    return int(side), ndimage.center_of_mass(a)


def assert_mnist_like(x: torch.Tensor) -> None:
    assert x.dtype == torch.uint8 and x.shape == (1, 28, 28)
    side, (cy, cx) = ink_stats(x)
    assert 19 <= side <= 21  # the 20-pixel box (+1 for the anti-aliased fringe)
    assert abs(cy + 0.5 - 14) <= 1 and abs(cx + 0.5 - 14) <= 1  # centre of mass at the centre
    assert x.max() == 255 and (x == 0).float().mean() > 0.6  # full strokes, black background


@pytest.mark.parametrize(
    "img",
    [
        seven(centre=(0.25, 0.3)),  # off-centre, top left
        seven(angle=12),  # rotated
        seven(size=(640, 400), centre=(0.7, 0.6), paper=170, ink=40),  # grey paper, landscape
        seven(size=(400, 600), height=0.04, width=0.25),  # tiny: 16 px tall in a portrait photo
        seven(height=1.0),  # huge: touches the borders
        PIL.Image.eval(seven(), lambda v: 255 - v),  # already light on black (a canvas)
    ],
    ids=["off-centre", "rotated", "grey-paper", "tiny", "huge", "light-on-black"],
)
def test_digit_ends_up_as_mnist_would_have_it(img: PIL.Image.Image) -> None:
    assert_mnist_like(prepare_image(img, MNIST))


def test_gradient_lighting_is_flattened_to_a_black_background() -> None:
    img = np.asarray(seven(size=(400, 300), centre=(0.4, 0.5)), dtype=np.float32)
    light = np.linspace(0.6, 1.05, 400)[None, :, None]  # dark left edge, bright right edge
    photo = PIL.Image.fromarray(np.clip(img * light, 0, 255).astype(np.uint8))
    x = prepare_image(photo, MNIST)
    assert_mnist_like(x)
    assert (x[0, :, :4] == 0).all() and (x[0, :, -4:] == 0).all()  # both edges black


def test_anti_aliasing_is_kept() -> None:
    x = prepare_image(seven(), MNIST)
    between = ((x > 0) & (x < 255)).sum().item()
    assert between >= 15  # soft stroke edges, not a hard binarisation


def test_invert_decision_and_override() -> None:
    assert decide_invert(reduce_grey(seven()))  # dark ink on white paper
    assert not decide_invert(reduce_grey(seven(paper=0, ink=255)))
    assert decide_invert(reduce_grey(seven(paper=110, ink=30)))  # dim photo: paper below 127
    steps = prepare_steps(seven(), MNIST)
    assert steps.inverted
    kept = prepare_steps(seven(paper=0, ink=255), MNIST, invert=False)
    assert not kept.inverted
    assert_mnist_like(kept.x)


@pytest.mark.parametrize(
    "img",
    [
        PIL.Image.new("RGB", (300, 300), "white"),  # a white page
        PIL.Image.new("L", (500, 400), 128),  # uniform grey
        PIL.Image.new("RGBA", (280, 280), (0, 0, 0, 255)),  # an empty (black) canvas
        PIL.Image.fromarray(  # white paper with sensor noise and a faint smudge
            np.clip(230 + np.random.default_rng(0).normal(0, 4, (300, 400)), 0, 255).astype(
                np.uint8
            )
        ),
    ],
    ids=["white", "grey", "empty-canvas", "noisy-paper"],
)
def test_blank_input_has_nothing_to_read(img: PIL.Image.Image) -> None:
    prepared = prepare_steps(img, MNIST)
    assert prepared.x is None and prepared.blank.startswith("nothing to read here")
    with pytest.raises(NothingToRead, match="nothing to read here"):
        prepare_image(img, MNIST)
    assert issubclass(NothingToRead, ImageError)  # the CLI reports it like an unreadable file
    kept = prepare_image(img, MNIST, on_blank="keep")  # the Learn page: show it anyway
    assert kept.shape == (1, 28, 28) and int(kept.max()) == 0


def test_step_strip_goes_from_original_to_model_input() -> None:
    steps = prepare_steps(seven(size=(500, 300)), MNIST).steps
    captions = [c for c, _ in steps]
    assert captions[0] == "original" and captions[-1].endswith("model input 28×28")
    assert "cropped to the ink" in captions and "grey, inverted" in captions
    assert all(max(p.size) <= 96 for _, p in steps)  # small pictures
    assert steps[0][1].size == (96, 58)  # the original keeps its aspect ratio


def ring(size: tuple[int, int]) -> PIL.Image.Image:
    """A circle of diameter 0.8 x the shorter side in the middle of a white photo."""
    w, h = size
    r = 0.4 * min(size)
    img = PIL.Image.new("RGB", size, "white")
    PIL.ImageDraw.Draw(img).ellipse(
        (w / 2 - r, h / 2 - r, w / 2 + r, h / 2 + r), outline="black", width=6
    )
    return img


def dark_extent(x: torch.Tensor) -> tuple[int, int]:
    """(height, width) of the dark pixels' bounding box of an RGB input."""
    dark = x.float().mean(0) < 200
    rows, cols = np.flatnonzero(dark.any(1)), np.flatnonzero(dark.any(0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_landscape_photo_is_not_distorted(fit: str) -> None:
    white = Preprocess(input_shape=(3, 32, 32), mean=(1.0,) * 3, style="photo")  # pads white
    x = prepare_image(ring((400, 200)), white, fit=fit)
    assert x.shape == (3, 32, 32)
    h, w = dark_extent(x)
    assert abs(h - w) <= 1  # a circle stays a circle (a squash would make it 2:1)
    expected = 0.8 * 32 if fit == "crop" else 0.8 * 16  # crop: 200 px -> 32; pad: 400 px -> 32
    assert abs(h - expected) <= 2


def test_pad_uses_the_training_mean_colour() -> None:
    pre = Preprocess(
        input_shape=(3, 32, 32), mean=(0.2, 0.4, 0.6), std=(0.2,) * 3, style="photo", fit="pad"
    )
    x = prepare_image(ring((400, 200)), pre)  # the saved fit is "pad"
    assert x[:, 0, 16].tolist() == [51, 102, 153]  # the padding above the photo
    with pytest.raises(ValueError, match="fit must be one of"):
        prepare_image(ring((40, 20)), RGB, fit="squash")


def test_uniform_photo_is_blank_for_photo_models_too() -> None:
    prepared = prepare_steps(PIL.Image.new("RGB", (300, 200), (250, 250, 250)), RGB)
    assert prepared.blank.startswith("nothing to read here") and prepared.x is not None


def test_old_meta_without_style_still_loads_and_infers_the_style() -> None:
    old = {"input_shape": [1, 28, 28], "mean": [0.13], "std": [0.31], "light_background": False}
    pre = Preprocess.from_dict(old)
    assert pre.style == "" and pre.resolved_style == "digit" and pre.resolved_digit_box == 20
    assert Preprocess.from_dict({**old, "input_shape": [3, 32, 32]}).resolved_style == "photo"
    assert Preprocess.from_dict({**old, "light_background": True}).resolved_style == "photo"
    assert Preprocess(input_shape=(1, 8, 8)).resolved_digit_box == 6


def test_compute_preprocess_measures_the_digit_box() -> None:
    x = torch.zeros(50, 1, 28, 28, dtype=torch.uint8)
    x[:, :, 4:24, 8:20] = 255  # 20 tall, 12 wide
    pre = compute_preprocess(x, style="digit")
    assert pre.style == "digit" and pre.digit_box == 20
    assert compute_preprocess(x).style == "photo" and compute_preprocess(x).digit_box == 0


def test_background_fit_and_otsu_against_known_values() -> None:
    yy, xx = np.mgrid[0:100, 0:120].astype(np.float32)
    surface = 40 + 0.3 * xx + 0.2 * yy  # a lighting ramp
    g = surface.copy()
    g[40:60, 50:70] += 150  # a bright square of "ink"
    r, noise = flatten_background(g)
    assert np.abs(r[:30]).max() < 0.5 and noise < 0.5  # the ramp is gone
    assert abs(r[50, 60] - 150) < 1
    values = np.concatenate([np.full(500, 10.0), np.full(100, 200.0)])
    assert 10 < otsu(values) < 200
