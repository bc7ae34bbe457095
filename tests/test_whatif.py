"""cnnlab.whatif: each knob against a trusted reference (numpy rot90/roll, scipy's Gaussian
filter), the occlusion patch, seeded noise, and the before/after prediction and figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from cnnlab.evaluate import predict_probs
from cnnlab.whatif import WhatIf, apply_whatif, before_after_bars, whatif_predict


def picture(c: int = 1, side: int = 28, seed: int = 0) -> torch.Tensor:
    """uint8 (C, side, side): a bright off-centre block plus texture on black."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(c, side, side)
    x[:, 5:15, 8:20] = 200
    x += 40 * torch.rand(c, side, side, generator=g)
    return x.round().to(torch.uint8)


def test_defaults_change_nothing() -> None:
    x = picture(3)
    torch.testing.assert_close(apply_whatif(x, WhatIf()), x)


def test_rotate_90_is_a_counter_clockwise_quarter_turn() -> None:
    x = picture()
    y = apply_whatif(x, WhatIf(rotate=90))
    expected = np.rot90(x[0].numpy(), k=1)  # numpy: counter-clockwise as displayed
    assert np.abs(y[0].numpy().astype(int) - expected.astype(int)).max() <= 1


def test_shift_moves_by_whole_pixels_with_the_background_coming_in() -> None:
    x = picture()
    y = apply_whatif(x, WhatIf(shift_x=3, shift_y=-2))
    expected = np.zeros_like(x[0].numpy())
    expected[:-2, 3:] = x[0].numpy()[2:, :-3]  # right by 3, up by 2; zeros come in
    assert np.abs(y[0].numpy().astype(int) - expected.astype(int)).max() <= 1
    grey = apply_whatif(x, WhatIf(shift_x=5), fill=(128.0,))
    assert (grey[0, :, :5] == 128).all()  # a photo model's background: its mean colour


def test_scale_two_doubles_the_block() -> None:
    x = torch.zeros(1, 28, 28, dtype=torch.uint8)
    x[:, 11:17, 12:16] = 255  # 6 x 4, centred at (14, 14)
    y = apply_whatif(x, WhatIf(scale=2.0))
    rows, cols = np.flatnonzero((y[0] > 127).any(1)), np.flatnonzero((y[0] > 127).any(0))
    assert rows[-1] - rows[0] + 1 == 12 and cols[-1] - cols[0] + 1 == 8


def test_blur_matches_scipy_gaussian_filter() -> None:
    x = picture()
    y = apply_whatif(x, WhatIf(blur=1.0))
    ref = ndimage.gaussian_filter(x[0].numpy().astype(np.float64), 1.0, mode="mirror", truncate=3.0)
    assert np.abs(y[0].numpy() - np.round(ref)).max() <= 1


def test_noise_is_seeded_and_has_the_asked_std() -> None:
    x = torch.full((1, 64, 64), 128, dtype=torch.uint8)
    a, b = apply_whatif(x, WhatIf(noise=20, seed=1)), apply_whatif(x, WhatIf(noise=20, seed=1))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, apply_whatif(x, WhatIf(noise=20, seed=2)))
    assert abs(a.float().std().item() - 20) < 2 and abs(a.float().mean().item() - 128) < 2


def test_brightness_adds_and_clips() -> None:
    x = picture()
    y = apply_whatif(x, WhatIf(brightness=60))
    torch.testing.assert_close(y, (x.int() + 60).clamp(0, 255).to(torch.uint8))


def test_occlusion_patch_covers_only_its_square() -> None:
    x = picture(3, 32)
    y = apply_whatif(x, WhatIf(patch=8, patch_x=0.25, patch_y=0.75), fill=(10.0, 20.0, 30.0))
    assert (y[:, 20:28, 4:12] == torch.tensor([10, 20, 30]).view(3, 1, 1)).all()  # centre (24, 8)
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[20:28, 4:12] = False
    assert torch.equal(y[:, outside], x[:, outside])


def test_bad_knobs_are_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        WhatIf(scale=0)
    with pytest.raises(ValueError, match=">= 0"):
        WhatIf(blur=-1)


def test_whatif_predict_before_is_the_plain_prediction_and_bars_show_both() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval()
    x = picture()
    result = whatif_predict(model, x, WhatIf(patch=28))  # everything covered
    np.testing.assert_allclose(result.before, predict_probs(model, x[None])[0], atol=1e-6)
    np.testing.assert_allclose(
        result.after, predict_probs(model, torch.zeros_like(x)[None])[0], atol=1e-6
    )
    fig = before_after_bars([str(i) for i in range(10)], result.before, result.after, top=4)
    assert [t.name for t in fig.data] == ["before", "after"] and len(fig.data[0].y) == 4
    top = int(np.argmax(np.maximum(result.before, result.after)))
    assert fig.data[0].y[0] == str(top)
