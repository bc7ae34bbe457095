"""open_image on hostile and unusual inputs, all built in code: it returns an "RGB"/"L" image with the
right pixels, or raises ImageError (and nothing else) with a message that says what to do."""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, ImageOps

from cnnlab.data.images import ImageError, image_to_tensor, open_image, tensor_to_pil

# Pillow warns about the broken EXIF blocks some of these inputs contain; open_image copes.
pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data")


def encode(img: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(
    width: int,
    height: int,
    *,
    bit_depth: int = 8,
    color_type: int = 2,
    idat: bytes | None = None,
    before: tuple[bytes, ...] = (),
    after: tuple[bytes, ...] = (),
) -> bytes:
    """A PNG whose IHDR says width x height; `idat` = compressed scanlines (default: 1 tiny row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"\0" * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + b"".join(before)
        + chunk(b"IDAT", idat)
        + b"".join(after)
        + chunk(b"IEND", b"")
    )


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(int)


def noise_rgb(size: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


# ---- decompression bombs -------------------------------------------------------------------


def test_header_claiming_100000x100000_is_rejected_before_decoding() -> None:
    data = raw_png(100_000, 100_000)
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too many pixels") as info:
        open_image(data)
    assert time.perf_counter() - start < 1.0
    assert "Downscale" in str(info.value)


def test_real_17kb_one_bit_png_of_12000x12000_is_rejected() -> None:
    row = b"\0" + b"\0" * (12_000 // 8)  # filter byte + 1500 bytes of 1-bit pixels
    data = raw_png(12_000, 12_000, bit_depth=1, color_type=0, idat=zlib.compress(row * 12_000, 9))
    assert len(data) < 30_000  # a tiny file...
    with pytest.warns(Image.DecompressionBombWarning):  # ...that plain Pillow would decode
        assert Image.open(io.BytesIO(data)).size == (12_000, 12_000)
    with pytest.raises(ImageError, match="too many pixels"):
        open_image(data)


def test_app_pixel_cap_applies_below_pillows_thresholds() -> None:
    # 48 Mpx: Pillow (warning at 89 Mpx) would decode it; the app cap of 40 Mpx stops it.
    with pytest.raises(ImageError, match="8000x6000"):
        open_image(raw_png(8000, 6000))
    small = encode(Image.new("RGB", (10, 10)))
    assert open_image(small, max_pixels=100).size == (10, 10)  # exactly at the cap is fine
    with pytest.raises(ImageError, match="limit"):
        open_image(small, max_pixels=99)


def test_size_between_pillow_warning_and_error_is_an_error_without_global_change() -> None:
    # 100 Mpx lies between Pillow's warning (89 Mpx) and error (179 Mpx) thresholds; even with the
    # app cap raised, the warning must act as an error, and the warnings filters stay as they were.
    filters_before = list(warnings.filters)
    with pytest.raises(ImageError, match="too many pixels"):
        open_image(raw_png(10_000, 10_000), max_pixels=10**9)
    assert warnings.filters == filters_before


# ---- damaged and non-image bytes ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_says_truncated(fmt: str) -> None:
    data = encode(noise_rgb(64), fmt)
    with pytest.raises(ImageError, match="truncated") as info:
        open_image(data[: len(data) // 2])
    assert "again" in str(info.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_any_flipped_byte_gives_an_image_or_image_error_only(fmt: str) -> None:
    data = encode(noise_rgb(8), fmt)
    outcomes = {"image": 0, "error": 0}
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        try:
            img = open_image(bytes(damaged))
        except ImageError:
            outcomes["error"] += 1
        else:
            assert img.mode in ("RGB", "L")
            outcomes["image"] += 1
    assert outcomes["error"] > 0


def test_flipped_byte_in_png_header_reports_corruption() -> None:
    data = bytearray(encode(noise_rgb(8)))
    data[18] ^= 0x01  # inside IHDR's width: the chunk CRC no longer matches
    with pytest.raises(ImageError, match="damaged") as info:
        open_image(bytes(data))
    assert "again" in str(info.value)


def test_zero_bytes_says_empty() -> None:
    with pytest.raises(ImageError, match="empty"):
        open_image(b"")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"just some notes\nabout my cats\n", "plain text"),
        (b"<!DOCTYPE html><html><body>Image</body></html>", "web page"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), "Windows program"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "plain text"),  # never Ghostscript
        (bytes(range(256)) * 4, "not an image format"),
    ],
)
def test_non_image_renamed_png_names_what_it_is(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=expected) as info:
        open_image(path)
    assert "PNG, JPEG" in str(info.value)  # says what to use instead


def test_random_bytes_behind_image_signatures_raise_image_error_only() -> None:
    rng = np.random.default_rng(0)
    signatures = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00"]
    for signature in signatures:
        for _ in range(40):
            tail = rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes()
            with pytest.raises(ImageError):
                open_image(signature + tail)


def test_file_over_byte_limit_is_rejected_with_the_limit() -> None:
    with pytest.raises(ImageError, match="larger than"):
        open_image(encode(noise_rgb(64)), max_bytes=1000)


def test_missing_file_says_not_found(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found"):
        open_image(tmp_path / "nope.png")


# ---- PNG text-chunk bombs ---------------------------------------------------------------------


def ztxt(keyword: bytes, text: bytes) -> bytes:
    return chunk(b"zTXt", keyword + b"\0\0" + zlib.compress(text, 9))


@pytest.mark.parametrize("where", ["before", "after"])
def test_ztxt_bomb_is_rejected_as_oversized_metadata(where: str) -> None:
    bomb = ztxt(b"Comment", b"A" * (50 * 2**20))  # 50 MiB of text in ~50 KB
    data = raw_png(1, 1, before=(bomb,) if where == "before" else (), after=(bomb,))
    start = time.perf_counter()
    with pytest.raises(ImageError, match="metadata"):
        open_image(data)
    assert time.perf_counter() - start < 1.0  # Pillow stops at MAX_TEXT_CHUNK, not 50 MiB
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_compressed_itxt_bomb_is_rejected() -> None:
    bomb = chunk(b"iTXt", b"Comment\0\1\0\0\0" + zlib.compress(b"A" * (50 * 2**20), 9))
    with pytest.raises(ImageError, match="metadata"):
        open_image(raw_png(1, 1, after=(bomb,)))


def test_many_text_chunks_over_pillows_total_text_memory_are_rejected() -> None:
    # Each chunk stays under MAX_TEXT_CHUNK (1 MiB); together they pass MAX_TEXT_MEMORY (64 MiB).
    chunks = tuple(ztxt(b"K%d" % i, b"B" * (2**20 - 100)) for i in range(70))
    with pytest.raises(ImageError, match="metadata"):
        open_image(raw_png(1, 1, before=chunks))


# ---- colour modes ---------------------------------------------------------------------------

SIXTEEN_BIT = np.array([[0, 257, 1000], [32768, 60000, 65535]], dtype=np.uint16)


@pytest.mark.parametrize(("fmt", "as_int32"), [("PNG", False), ("TIFF", False), ("TIFF", True)])
def test_16_bit_grayscale_is_scaled_not_clipped_to_white(fmt: str, as_int32: bool) -> None:
    values = SIXTEEN_BIT.astype(np.int32) if as_int32 else SIXTEEN_BIT
    source = Image.fromarray(values)
    assert source.mode == ("I" if as_int32 else "I;16")
    img = open_image(encode(source, fmt))
    assert img.mode == "L"
    expected = np.round(SIXTEEN_BIT / 257).astype(int)  # 32768 -> 128, not 255
    np.testing.assert_array_equal(pixels(img), expected)


def test_32_bit_integer_outside_16_bit_range_is_stretched_min_to_max() -> None:
    source = Image.fromarray(np.array([[-100, 0, 100]], dtype=np.int32))
    np.testing.assert_array_equal(pixels(open_image(encode(source, "TIFF"))), [[0, 128, 255]])


def test_float_tiff_is_stretched_min_to_max_and_nan_becomes_black() -> None:
    values = np.array([[-1.0, 0.0, 1.0], [2.0, 3.0, np.nan]], dtype=np.float32)
    img = open_image(encode(Image.fromarray(values), "TIFF"))
    assert img.mode == "L"
    expected = np.round((np.nan_to_num(values, nan=-1.0) + 1) / 4 * 255).astype(int)
    np.testing.assert_array_equal(pixels(img), expected)


def test_rgba_is_composited_on_white() -> None:
    source = Image.new("RGBA", (4, 1))
    for x, colour in enumerate([(255, 0, 0, 255), (255, 0, 0, 0), (255, 0, 0, 128), (0, 0, 0, 0)]):
        source.putpixel((x, 0), colour)
    img = open_image(encode(source))
    assert img.mode == "RGB"
    expected = [[[255, 0, 0], [255, 255, 255], [255, 127, 127], [255, 255, 255]]]
    np.testing.assert_allclose(pixels(img), expected, atol=1)


def test_gray_with_alpha_is_composited_on_white_and_stays_gray() -> None:
    source = Image.new("LA", (2, 1))
    source.putpixel((0, 0), (0, 255))
    source.putpixel((1, 0), (0, 0))
    img = open_image(encode(source))
    assert img.mode == "L"
    np.testing.assert_array_equal(pixels(img), [[0, 255]])


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparent_index_is_white(fmt: str) -> None:
    source = Image.new("P", (2, 1))
    source.putpalette([0, 0, 255, 255, 0, 0] + [0] * 762)  # index 0 blue, 1 red
    source.putpixel((1, 0), 1)
    img = open_image(encode(source, fmt, transparency=1))
    assert img.mode == "RGB"
    np.testing.assert_array_equal(pixels(img), [[[0, 0, 255], [255, 255, 255]]])


def test_rgb_png_with_transparent_colour_key_is_white() -> None:
    source = Image.new("RGB", (2, 1), (0, 255, 0))
    source.putpixel((0, 0), (255, 0, 0))
    img = open_image(encode(source, transparency=(0, 255, 0)))
    np.testing.assert_array_equal(pixels(img), [[[255, 0, 0], [255, 255, 255]]])


@pytest.mark.parametrize(("fmt", "tolerance"), [("TIFF", 0), ("JPEG", 12)])
def test_cmyk_is_converted_to_rgb(fmt: str, tolerance: int) -> None:
    source = Image.new("CMYK", (24, 8), (0, 0, 0, 0))  # white
    source.paste((0, 255, 255, 0), (8, 0, 16, 8))  # red
    source.paste((0, 0, 0, 255), (16, 0, 24, 8))  # black
    img = open_image(encode(source, fmt, **({"quality": 95} if fmt == "JPEG" else {})))
    assert img.mode == "RGB"
    got = pixels(img)
    for x, colour in [(4, (255, 255, 255)), (12, (255, 0, 0)), (20, (0, 0, 0))]:
        np.testing.assert_allclose(got[4, x], colour, atol=tolerance)


def test_300_frame_gif_gives_first_frame_quickly() -> None:
    frames = [Image.new("RGB", (16, 16), (255 - i % 200, i % 256, 0)) for i in range(300)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 300
    start = time.perf_counter()
    img = open_image(data)
    assert time.perf_counter() - start < 0.5
    assert img.size == (16, 16)
    np.testing.assert_allclose(pixels(img)[0, 0], (255, 0, 0), atol=8)


@pytest.mark.parametrize(("fmt", "tolerance"), [("PNG", 0), ("JPEG", 12)])
def test_exif_orientation_6_is_applied(fmt: str, tolerance: int) -> None:
    # Stored 32 wide x 16 high, left half red, right half blue; orientation 6 = rotate 90 deg
    # clockwise to display, so the displayed image is 16 x 32 with red on top.
    source = Image.new("RGB", (32, 16), (0, 0, 255))
    source.paste((255, 0, 0), (0, 0, 16, 16))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(source, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    img = open_image(data)
    assert img.size == (16, 32)
    np.testing.assert_allclose(pixels(img)[4, 8], (255, 0, 0), atol=tolerance)
    np.testing.assert_allclose(pixels(img)[28, 8], (0, 0, 255), atol=tolerance)
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    np.testing.assert_array_equal(pixels(img), pixels(reference))


@pytest.mark.parametrize("size", [(20_000, 1), (1, 1)])
def test_extreme_aspect_and_single_pixel_images_resize_to_model_input(
    size: tuple[int, int],
) -> None:
    img = open_image(encode(Image.new("RGB", size, (10, 200, 30))))
    assert img.size == size
    x = image_to_tensor(img, (32, 32), 3)
    assert x.shape == (3, 32, 32) and x.dtype == torch.uint8
    assert x[:, 16, 16].tolist() == [10, 200, 30]


def test_one_bit_image_becomes_l() -> None:
    source = Image.new("1", (2, 1))
    source.putpixel((1, 0), 1)
    img = open_image(encode(source))
    assert img.mode == "L"
    np.testing.assert_array_equal(pixels(img), [[0, 255]])


def test_every_kind_of_source_gives_the_same_image(tmp_path: Path) -> None:
    data = encode(noise_rgb(8))
    path = tmp_path / "x.png"
    path.write_bytes(data)
    expected = pixels(open_image(data))
    for source in (bytearray(data), path, str(path), io.BytesIO(data)):
        np.testing.assert_array_equal(pixels(open_image(source)), expected)


# ---- tensors ------------------------------------------------------------------------------


def test_image_to_tensor_matches_pillow_bilinear_resize_and_channel_rules() -> None:
    img = noise_rgb(40).resize((40, 20))  # (W, H) = (40, 20)
    x = image_to_tensor(img, (10, 16), 3)  # size is (H, W)
    assert x.shape == (3, 10, 16) and x.dtype == torch.uint8
    reference = np.asarray(img.resize((16, 10), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    np.testing.assert_array_equal(x.numpy(), reference)
    gray = image_to_tensor(img, (10, 16), 1)
    expected_gray = np.asarray(img.resize((16, 10), Image.Resampling.BILINEAR).convert("L"))
    np.testing.assert_array_equal(gray.numpy()[0], expected_gray)
    from_gray = image_to_tensor(img.convert("L"), (10, 16), 3)
    assert torch.equal(from_gray[0], from_gray[1]) and torch.equal(from_gray[1], from_gray[2])


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_tensor_to_pil_round_trips(mode: str) -> None:
    img = noise_rgb(12).convert(mode)
    x = image_to_tensor(img, (12, 12), 3 if mode == "RGB" else 1)
    back = tensor_to_pil(x)
    assert back.mode == mode
    np.testing.assert_array_equal(pixels(back), pixels(img))


def test_tensor_to_pil_rejects_float_tensors() -> None:
    with pytest.raises(ValueError, match="uint8"):
        tensor_to_pil(torch.zeros(3, 4, 4))
