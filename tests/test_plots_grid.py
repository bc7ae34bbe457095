"""Tile grids (`plots.tile_grid`, torchvision's make_grid): each tile on the picture equals its
image pixel for pixel, at make_grid's position, with `pad` pixels of `pad_value` everywhere else;
the figures built on them (`image_grid`, feature maps, filters, the Data page's tiles)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab import gallery, plots
from tests.test_plots import decode


def hwc(image: torch.Tensor) -> np.ndarray:
    """uint8 (C, H, W) -> (H, W, 3), grey repeated to three channels."""
    return image.expand(3, -1, -1).permute(1, 2, 0).numpy()


def assert_tiles_exact(grid: plots.TileGrid, images: torch.Tensor, pad_value: int) -> None:
    h, w = grid.tile
    covered = np.zeros(grid.picture.shape[:2], dtype=bool)
    for i, image in enumerate(images):
        top, left = grid.origin(i)
        np.testing.assert_array_equal(grid.picture[top : top + h, left : left + w], hwc(image))
        covered[top : top + h, left : left + w] = True
    assert (grid.picture[~covered] == pad_value).all()  # padding, and the empty end of the last row


@pytest.mark.parametrize(("n", "cols", "channels"), [(1, 8, 3), (5, 2, 3), (16, 8, 1), (7, 3, 1)])
def test_tile_grid_equals_its_images(n: int, cols: int, channels: int) -> None:
    images = torch.randint(0, 255, (n, channels, 5, 7), dtype=torch.uint8)  # 255 only as padding
    grid = plots.tile_grid(images, cols=cols, pad=3, pad_value=255)
    rows, used = -(-n // min(cols, n)), min(cols, n)
    assert grid.picture.shape == (3 + rows * (5 + 3), 3 + used * (7 + 3), 3)
    assert grid.picture.dtype == np.uint8 and grid.cols == used and grid.count == n
    assert_tiles_exact(grid, images, 255)


def test_tile_grid_upscales_by_whole_pixels() -> None:
    images = torch.randint(1, 255, (3, 1, 4, 4), dtype=torch.uint8)
    grid = plots.tile_grid(images, cols=3, upscale_to=18, pad=2, pad_value=0)  # 4 px x5 = 20
    assert grid.tile == (20, 20)
    big = images.repeat_interleave(5, dim=2).repeat_interleave(5, dim=3)
    assert_tiles_exact(grid, big, 0)


def test_tile_grid_refuses_what_it_cannot_draw() -> None:
    for bad in (torch.zeros(0, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, 3, 4, 4)):
        with pytest.raises(ValueError, match="expected uint8 images"):
            plots.tile_grid(bad)


def test_image_grid_is_one_picture_with_titles_over_their_tiles() -> None:
    x = torch.randint(0, 255, (5, 3, 6, 4), dtype=torch.uint8)
    fig = plots.image_grid(x, titles=list("abcde"), cols=2)
    (trace,) = fig.data
    assert trace.type == "image"
    grid = plots.tile_grid(x, cols=2, pad=plots.TITLE_PX)
    np.testing.assert_array_equal(decode(trace.source), grid.picture)
    assert [a.text for a in fig.layout.annotations] == list("abcde")
    top, left = grid.origin(3)
    assert (fig.layout.annotations[3].x, fig.layout.annotations[3].y) == (left + 2, top)
    assert fig.layout.height == grid.picture.shape[0] and fig.layout.width == grid.picture.shape[1]
    assert not fig.layout.xaxis.visible and list(fig.layout.yaxis.range) == [
        grid.picture.shape[0],
        0,
    ]
    untitled = plots.image_grid(x, titles=None, cols=8, upscale_to=12)
    assert not untitled.layout.annotations
    assert_tiles_exact(
        plots.tile_grid(x, 8, 12, pad=4), x.repeat_interleave(2, 2).repeat_interleave(2, 3), 255
    )


def test_feature_map_grid_caps_maps_and_scales_each() -> None:
    maps = torch.randn(40, 5, 5)
    maps[1] = 7.0  # a constant map
    fig = plots.feature_map_grid(maps, max_maps=32, cols=8)
    (trace,) = fig.data
    assert len(fig.layout.annotations) == 32  # channel numbers 0..31
    picture = decode(trace.source)
    pad, side = plots.TITLE_PX, 65  # 5 px upscaled x13 to reach 64
    assert picture.shape == (pad + 4 * (side + pad), pad + 8 * (side + pad), 3)
    lowest, highest = plots.viridis(np.array([0.0, 1.0]))
    first = picture[pad : pad + side, pad : pad + side].reshape(-1, 3)
    assert {tuple(lowest), tuple(highest)} <= {tuple(p) for p in first}
    second = picture[pad : pad + side, 2 * pad + side : 2 * pad + 2 * side].reshape(-1, 3)
    assert {tuple(p) for p in second} == {tuple(lowest)}


def test_filter_grid_rgb_and_grey() -> None:
    filters = torch.randn(6, 3, 3, 3)  # (F, C, k, k)
    picture = decode(plots.filter_grid(filters).data[0].source)
    pad = plots.TITLE_PX
    tile = picture[pad : pad + 48, pad : pad + 48]  # 3 px x16
    expected = filters[0].permute(1, 2, 0).numpy()  # (k, k, 3)
    expected = (expected - expected.min()) / (expected.max() - expected.min()) * 255
    np.testing.assert_allclose(tile[::16, ::16], expected, atol=0.51)
    grey = decode(plots.filter_grid(torch.randn(4, 1, 5, 5)).data[0].source)
    assert grey.shape == (pad + 50 + pad, pad + 4 * (50 + pad), 3)
    assert (grey[..., 0] == grey[..., 1]).all()


def test_data_page_tiles_figure_keeps_pixels_and_titles() -> None:
    images = torch.randint(0, 255, (4, 1, 28, 28), dtype=torch.uint8)
    tiles = gallery.Tiles(images, ["original", "random 1", "", ""], cols=2)
    fig = gallery.tiles_figure(tiles)
    grid = plots.tile_grid(images, cols=2, upscale_to=gallery.DISPLAY_SIDE, pad=plots.TITLE_PX)
    np.testing.assert_array_equal(decode(fig.data[0].source), grid.picture)
    assert [a.text for a in fig.layout.annotations] == ["original", "random 1"]
