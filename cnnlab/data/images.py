"""Safe decoding of untrusted image bytes (uploads, files inside user zips and folders).

`open_image` is the only way cnnlab turns user bytes into pixels. It checks the size in the header
before decoding (decompression bombs), reads only the formats listed in `FORMATS` (so Pillow never
hands a file to Ghostscript or another external tool), and normalises every colour mode to "RGB" or
"L". Every failure becomes an `ImageError` whose message says what was wrong and what to do.
"""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # width * height, e.g. 8000 x 5000: room for a 24-megapixel camera photo
MAX_FILE_BYTES = 50 * 2**20  # bytes read from one file before giving up

# Pillow format names we decode (phone JPEGs that open as "MPO" come through the JPEG entry).
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
FORMATS_TEXT = "PNG, JPEG, BMP, GIF, WebP or TIFF"

# `warnings.catch_warnings` swaps the process-wide filter list, so two threads inside it at once
# can leave the filters changed for good. Image.open only parses headers, so holding a lock around
# it costs little; the expensive decode (`load`) runs outside the lock.
_OPEN_LOCK = threading.Lock()

_EXIF_ORIENTATION = 0x0112
# File signatures of FORMATS: such bytes are a damaged image, not some other kind of file.
_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


class ImageError(ValueError):
    """An image could not be read safely; the message says why and what to do."""


def open_image(
    source: bytes | str | Path | BinaryIO,
    *,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_FILE_BYTES,
) -> Image.Image:
    """Decode an untrusted image: fully loaded, EXIF orientation applied, first frame only.

    Returns mode "L" or "RGB": 16-bit and float data rescaled to 8 bits, transparency composited on
    white, CMYK/palette/other modes converted. The effective pixel cap is the smaller of
    `max_pixels` and Pillow's own `Image.MAX_IMAGE_PIXELS` (its warning is turned into an error).
    Raises `ImageError` and nothing else.
    """
    data = _read_bytes(source, max_bytes)
    img = _open_header(data, max_pixels)
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(f"The image is {width}x{height} pixels (empty). Use a real image.")
    if width * height > max_pixels:
        raise _too_many_pixels(width, height, max_pixels)
    try:
        img.load()
    except Exception as err:  # Pillow raises OSError, ValueError, SyntaxError, EOFError, ...
        raise _decode_failed(img.format, err) from err
    img = _apply_orientation(img)
    try:
        return _to_rgb_or_l(img)
    except Exception as err:
        raise ImageError(
            f"Could not convert the {img.format} image (colour mode {img.mode}) to RGB: {err}. "
            "Re-save it as an 8-bit RGB PNG or JPEG."
        ) from err


def image_to_tensor(img: Image.Image, size: tuple[int, int], channels: int) -> torch.Tensor:
    """A uint8 (C, H, W) tensor of `img` resized to exactly `size` = (H, W).

    The resize is direct (aspect ratio is not kept: a 200x100 photo is squeezed into a square),
    using Pillow's BILINEAR filter, which averages over the whole source footprint when shrinking
    (antialiased). `channels` is 1 (grayscale, ITU-R 601 luma) or 3 (RGB; gray is repeated).
    """
    return torch.from_numpy(image_to_array(img, size, channels))


def image_to_array(img: Image.Image, size: tuple[int, int], channels: int) -> np.ndarray:
    """Same as `image_to_tensor` but a numpy uint8 (C, H, W) array (no torch overhead per image)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    height, width = size
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive (H, W), got {size}")
    if img.mode not in ("L", "RGB"):
        img = _to_rgb_or_l(img)
    if img.size != (width, height):
        # Resize before any channel conversion: fewer pixels to convert.
        img = img.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    target = "L" if channels == 1 else "RGB"
    if img.mode != target:
        img = img.convert(target)
    pixels = np.asarray(img)  # (H, W) or (H, W, 3) uint8
    if channels == 1:
        return pixels[None].copy()  # (1, H, W); a copy, as np.asarray(img) is read-only
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # (3, H, W)


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """The inverse of `image_to_tensor` for display: uint8 (C, H, W) with C = 1 or 3."""
    if x.dtype != torch.uint8 or x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(
            f"expected a uint8 (C, H, W) tensor with C in (1, 3), got {x.dtype} {tuple(x.shape)}"
        )
    pixels = x.detach().cpu().numpy()
    if x.shape[0] == 1:
        return Image.fromarray(np.ascontiguousarray(pixels[0]))  # (H, W) -> "L"
    return Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)))  # (H, W, 3) -> "RGB"


def _read_bytes(source: bytes | str | Path | BinaryIO, max_bytes: int) -> bytes:
    """All bytes of `source` (a file object is read from its current position), reading at most
    `max_bytes + 1` of them to detect too-big files."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)  # no copy for bytes
    elif isinstance(source, str | Path):
        try:
            with open(source, "rb") as f:
                data = f.read(max_bytes + 1)
        except FileNotFoundError as err:
            raise ImageError(f"File not found: {source}. Check the path.") from err
        except OSError as err:
            raise ImageError(f"Could not read {source}: {err.strerror or err}.") from err
    else:
        try:
            data = source.read(max_bytes + 1)
        except Exception as err:
            raise ImageError(
                f"Could not read the uploaded file: {err}. Try uploading it again."
            ) from err
        if not isinstance(data, bytes):
            raise ImageError(
                "The upload did not return bytes; open the file in binary mode ('rb')."
            )
    if not data:
        raise ImageError("The file is empty (0 bytes). Upload or pick the image again.")
    if len(data) > max_bytes:
        raise ImageError(
            f"The file is larger than {_megabytes(max_bytes)}. Downscale or re-compress it "
            "(for example save it as a JPEG of at most 4000 x 4000 pixels) and try again."
        )
    return data


def _megabytes(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.0f} MB" if num_bytes >= 2**20 else f"{num_bytes:,} bytes"


def _open_header(data: bytes, max_pixels: int) -> Image.Image:
    """Image.open (header only) with Pillow's decompression-bomb warning raised as an error."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise ImageError(
            f"The image has too many pixels to open safely ({err}). Downscale it to at most "
            f"{min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels) / 1e6:g} megapixels "
            "and try again."
        ) from err
    except UnidentifiedImageError as err:
        raise ImageError(_describe_unknown(data)) from err
    except Exception as err:  # a damaged header: SyntaxError, OSError, ValueError, ...
        raise _decode_failed(None, err) from err


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels), more than "
        f"the limit of {max_pixels / 1e6:g} megapixels (it could be a decompression bomb). "
        "Downscale it and try again."
    )


def _decode_failed(image_format: str | None, err: Exception) -> ImageError:
    text = str(err)
    if "text chunk" in text.lower() or "MAX_TEXT" in text:
        what = "its embedded text metadata is too large to read safely"
        todo = "re-save it without metadata (for example export as a new PNG)"
    elif "truncated" in text.lower() or isinstance(err, EOFError):
        what = "the file is truncated (incomplete download or upload)"
        todo = "download or export it again"
    else:
        what = f"the file is corrupted ({type(err).__name__}: {text})"
        todo = f"re-export it as {FORMATS_TEXT}"
    return ImageError(
        f"Could not decode the {image_format or 'image'} file: {what}. Please {todo}."
    )


def _describe_unknown(data: bytes) -> str:
    """A message for bytes Pillow did not recognise, naming what they look like."""
    if _looks_like_damaged_image(data):
        return (
            "This file starts like an image but its header is damaged, so it cannot be read. "
            f"Re-export or download it again ({FORMATS_TEXT})."
        )
    return f"This file is {_kind_of_file(data)}. Please use a {FORMATS_TEXT} image instead."


def _looks_like_damaged_image(data: bytes) -> bool:
    if data.startswith(b"RIFF"):  # RIFF also wraps WAV and AVI
        return data[8:12] == b"WEBP"
    return data.startswith(_SIGNATURES) and not _looks_like_text(data[:512])


def _kind_of_file(data: bytes) -> str:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()  # skip a UTF-8 BOM and whitespace
    if head.startswith(b"<"):
        if b"<svg" in head:
            return "an SVG drawing (vector graphics, not pixels); export it as PNG"
        if b"<html" in head or b"<!doctype html" in head:
            return "a web page (HTML), perhaps saved from a browser instead of the image itself"
        return "XML/HTML text"
    if data.startswith(b"MZ"):
        return "a Windows program (.exe/.dll), not an image"
    if data.startswith(b"%PDF"):
        return "a PDF document"
    if data.startswith(b"PK\x03\x04"):
        return "a zip archive"
    if _looks_like_text(data[:512]):
        return "plain text"
    return "not an image format cnnlab reads"


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a character cut at the end of `head`
            return False
        text = head[: err.start].decode("utf-8")
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _apply_orientation(img: Image.Image) -> Image.Image:
    """Rotate/flip by the EXIF orientation tag; a broken EXIF block is ignored (not fatal)."""
    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        if orientation in (2, 3, 4, 5, 6, 7, 8):
            return ImageOps.exif_transpose(img)
    except Exception:
        pass  # unreadable EXIF: show the pixels as stored
    return img


def _to_rgb_or_l(img: Image.Image) -> Image.Image:
    """Normalise any Pillow mode to "L" or "RGB" (8 bits per channel)."""
    mode = img.mode
    has_key = "transparency" in img.info  # tRNS colour key (PNG) or palette index (GIF/PNG)
    if mode in ("L", "RGB") and not has_key:
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I") or mode == "F":
        return _rescale_to_l(img)
    if mode in ("L", "LA", "La"):
        return _on_white(img.convert("LA"))
    if mode in ("RGBA", "RGBa", "PA") or has_key:
        return _on_white(img.convert("RGBA"))
    return img.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, RGBX, ...


def _on_white(img: Image.Image) -> Image.Image:
    """Composite an "LA" or "RGBA" image on a white background: out = a * src + (1 - a) * 255."""
    base_mode = img.mode[:-1]  # "L" or "RGB"
    background = Image.new(base_mode, img.size, "white")
    background.paste(img.convert(base_mode), mask=img.getchannel("A"))
    return background


def _rescale_to_l(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grayscale to "L" without clipping to white.

    16-bit data ("I;16*", or "I" whose values fit in 0..65535) are scaled by 255/65535, so a dark
    16-bit image stays dark. Other integer and float data are stretched from their own min..max.
    """
    if img.mode not in ("I", "I;16", "I;16L", "I;16B", "F"):
        img = img.convert("I" if img.mode.startswith("I") else "F")
    pixels = np.asarray(img)  # (H, W) uint16, int32 or float32
    if pixels.dtype.kind == "u" or (
        pixels.dtype.kind == "i" and pixels.min() >= 0 and pixels.max() <= 65535
    ):
        return Image.fromarray(_scale_16bit(pixels))
    values = pixels.astype(np.float32)
    finite = np.isfinite(values)  # NaN/inf in float TIFFs count as the minimum
    if not finite.any():
        return Image.new("L", img.size, 0)
    low, high = float(values[finite].min()), float(values[finite].max())
    if high <= low:  # constant image: keep its value, read as 0..1 or 0..255
        return Image.new("L", img.size, int(np.clip(low * 255 if low <= 1 else low, 0, 255)))
    values = np.where(finite, values, low)
    scaled = (values - low) * (255.0 / (high - low))  # (H, W) float32 in 0..255
    return Image.fromarray(np.round(scaled).astype(np.uint8))


def _scale_16bit(pixels: np.ndarray) -> np.ndarray:
    """uint8 round(x * 255 / 65535) = round(x / 257), in integer arithmetic."""
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
