"""What decoding an image will cost in memory, told from its header before a pixel is decoded.

A few kilobytes of lossless WebP or PNG can declare a near-50-megapixel RGBA canvas: decoding it
and the copies our conversions make peaked at 640 MB to 1.2 GB, on a function with 1,024 MB.
The estimate is width x height x the bytes per pixel the decoder stores for the mode, times the
full-size copies ``runtime.images`` makes on the way to RGB, plus the decoder's own buffers.
The factors below were measured on 50 MP canvases without this check (peak RSS of a fresh
process, as ``tests/runtime/test_images.py`` measures it, less the interpreter's ~60 MB) and err
high: RGBA PNG 7.2 bytes a pixel, palette with transparency 8.1, 16-bit grey 12.8, lossless RGBA
WebP 14.9.
"""

from __future__ import annotations

from typing import Final

from PIL import Image

from runtime.jpeg import JpegStructure

DEFAULT_MAX_DECODE_BYTES: Final = 256 * 1024 * 1024
"""Memory one decode may need. With the interpreter, boto3 and the libraries it keeps a decode
well under half the function's 1,024 MB, and admits a 50 MP RGB PNG, a 30 MP RGBA PNG, a 25 MP
lossy WebP and any JPEG a phone or camera writes."""

# Bytes per pixel at the peak of decoding and converting to RGB, by mode (Pillow stores RGB,
# RGBA, LA, I and F in 4 bytes a pixel, I;16 in 2, L, P and 1 in 1):
_PEAK_BYTES_PER_PIXEL: Final = {
    "1": 5,  # 1 stored + 4 for the RGB copy
    "L": 5,
    "P": 5,
    "RGB": 4,  # resized as it is: no full-size copy
    # 2 stored + 4 for the 32-bit copy + Pillow's point() on it (measured: 12.8 in all)
    "I;16": 13,
    "I;16B": 13,
    "I;16L": 13,
    "I;16N": 13,
    "I": 13,
    "F": 13,
    "RGBA": 8,  # 4 stored + 4 for the white RGB background it is pasted on
    "LA": 12,  # 4 stored + 4 as RGBA + 4 for the background
    "PA": 9,
}
_TRANSPARENT_PALETTE_BYTES_PER_PIXEL: Final = 9  # 1 stored + 4 as RGBA + 4 for the background
# libwebp decodes into a buffer of its own (4 bytes a pixel, more for lossless transforms) that
# Pillow then copies: a WebP needs this much on top of what its mode needs (a 50 MP lossless RGBA
# WebP measured 14.9 bytes a pixel in all).
_WEBP_DECODER_BYTES_PER_PIXEL: Final = 12
# A JPEG is decoded at its reduced DCT scale into an RGB array that Pillow copies (3 + 4), and
# turned upright with one more copy (4).
_JPEG_OUTPUT_BYTES_PER_PIXEL: Final = 11


def decode_bytes(image: Image.Image, jpeg: JpegStructure | None, scaled: tuple[int, int]) -> int:
    """The memory decoding ``image`` and making it RGB will take, estimated from its header.

    Args:
        image: opened, not loaded.
        jpeg: its structure, for a JPEG.
        scaled: the size a JPEG is decoded at (its DCT scale); ignored for other formats.
    """
    width, height = image.size
    if jpeg is not None:
        return jpeg.coefficient_bytes() + scaled[0] * scaled[1] * _JPEG_OUTPUT_BYTES_PER_PIXEL
    if image.mode == "P" and image.has_transparency_data:
        per_pixel = _TRANSPARENT_PALETTE_BYTES_PER_PIXEL
    else:
        per_pixel = _PEAK_BYTES_PER_PIXEL.get(image.mode, 12)
    if image.format == "WEBP":
        per_pixel += _WEBP_DECODER_BYTES_PER_PIXEL
    return width * height * per_pixel


def max_pixels_within(image: Image.Image, jpeg: JpegStructure | None, budget: int) -> int:
    """How many pixels an image like this one may have to fit ``budget`` (for the message)."""
    width, height = image.size
    needed = decode_bytes(image, jpeg, (width, height))
    return max(1, int(width * height * budget / max(needed, 1)))
