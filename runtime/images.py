"""Turns untrusted uploaded bytes into the model's input: a 224x224 RGB JPEG, or a clear refusal.

Everything that bounds the work is checked before a pixel is decoded: the byte size, the
declared pixels and their aspect ratio, a JPEG's marker structure and scan count
(``runtime.jpeg``), and the memory the decode and its conversions will take
(``runtime.decode_limits``). JPEGs are decoded strictly (damaged data is refused, not filled in
with grey); PNG and WebP by Pillow, inside the guard.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageOps

from runtime import jpeg
from runtime.decode_limits import DEFAULT_MAX_DECODE_BYTES, decode_bytes, max_pixels_within
from runtime.formats import BY_NAME, DEFAULT_MAX_BYTES

MODEL_INPUT_SIZE: Final = 224
JPEG_QUALITY: Final = 95
# 50 megapixels admits any phone or dermatoscope photo (a 12 MP phone, a 24 MP camera) and
# refuses an 8k x 8k image. It sits below Pillow's own bomb threshold (~89 MP), so our check
# fires first and with a clearer message.
DEFAULT_MAX_PIXELS: Final = 50_000_000
DEFAULT_MIN_SIDE: Final = 32
DEFAULT_MAX_ASPECT_RATIO: Final = 4.0
"""The model squashes every image to a square (its training images were 4:3, squashed by 1.33).
A phone's widest usual photo is 21:9 (2.33); past 4:1 a round lesion becomes a thin line and
the scores mean nothing."""
DEFAULT_FORMATS: Final = frozenset(BY_NAME)
_DECODE_SIDE: Final = 2 * MODEL_INPUT_SIZE
"""JPEGs are decoded at the smallest DCT scale keeping both sides this long: twice the model's
input keeps the final resize faithful, for a fraction of the work."""
# Pillow's names for formats we accept under another name: an MPO (a phone's multi-picture
# JPEG) is a JPEG whose first image is the photo.
_FORMAT_ALIASES: Final = {"MPO": "JPEG"}

# Magic numbers, only to name what a refused file is. Pillow never parses a format that is
# not allowed, so a crafted GIF or TIFF cannot reach a decoder we did not choose to expose.
_SIGNATURES: Final = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"%PDF", "PDF"),
)
_EXIF_ORIENTATION: Final = 0x0112
_DOCUMENT_FORMATS: Final = {"PDF": "a PDF document", "SVG": "an SVG drawing", "HTML": "a web page"}


class InvalidImage(ValueError):
    """The upload cannot be used as a model input. The message says why, for a person.

    Attributes:
        code: a short machine-readable reason (``empty``, ``too_large``, ``not_an_image``,
            ``unsupported_format``, ``too_many_pixels``, ``too_small``, ``bad_aspect_ratio``,
            ``too_many_scans``, ``too_costly``, ``corrupt``), used in error records and
            metrics.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ImageLimits:
    """What an upload may be. The same limits apply in Lambda and in the app."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = DEFAULT_MIN_SIDE
    formats: frozenset[str] = DEFAULT_FORMATS
    max_aspect_ratio: float = DEFAULT_MAX_ASPECT_RATIO
    """Longer side over shorter side."""
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES
    """Memory one decode and its conversions may take, estimated before decoding."""
    max_scans: int = jpeg.DEFAULT_MAX_SCANS
    """Scans a JPEG may hold."""

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")
        if self.max_pixels <= 0:
            raise ValueError(f"max_pixels must be positive, got {self.max_pixels}")
        if self.min_side < 1:
            raise ValueError(f"min_side must be at least 1, got {self.min_side}")
        if self.max_aspect_ratio < 1:
            raise ValueError(f"max_aspect_ratio must be at least 1, got {self.max_aspect_ratio}")
        if self.max_decode_bytes <= 0 or self.max_scans < 1:
            raise ValueError("max_decode_bytes and max_scans must be positive")
        unknown = set(self.formats) - set(BY_NAME)
        if not self.formats or unknown:
            raise ValueError(f"formats must be a non-empty subset of {sorted(BY_NAME)}")


@dataclass(frozen=True)
class PreparedImage:
    """The model input and what the prediction record says about the original upload."""

    jpeg: bytes
    """The model input: 224x224 RGB JPEG, no metadata."""
    sha256: str
    """Hex SHA-256 of the original bytes, as uploaded."""
    width: int
    """Width of the original, as displayed (after EXIF orientation)."""
    height: int
    format: str
    """The original's format as read from its content: JPEG, PNG or WEBP."""
    bytes: int
    """Size of the original in bytes."""


def too_large(size: int, limit: int) -> InvalidImage:
    """The refusal of a file of ``size`` bytes over the ``limit``, for every place that checks.

    Sizes are rounded to a tenth of a KB or MB unless that would make them look equal
    (10 MiB and one byte is not "10.0 MB; the limit is 10.0 MB"): then they are exact bytes.
    """
    shown, allowed = _human_size(size), _human_size(limit)
    if shown == allowed:
        shown, allowed = f"{size:,} bytes", f"{limit:,} bytes ({allowed})"
    return InvalidImage("too_large", f"The file is {shown}; the limit is {allowed}.")


def sniff_format(data: bytes) -> str | None:
    """Name the format of ``data`` from its first bytes, without decoding it.

    Returns:
        ``JPEG``, ``PNG``, ``WEBP``, ``GIF``, ``TIFF``, ``BMP``, ``PDF``, ``SVG``, ``HTML``, or
        None when the bytes look like none of these.
    """
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    if head.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    return None


def prepare(data: bytes, limits: ImageLimits | None = None) -> PreparedImage:
    """Validate an uploaded image and turn it into the model's input.

    The checks run cheapest first: byte size before anything is parsed; the declared pixel
    count, sides and aspect ratio, a JPEG's structure and scan count, and the memory the
    decode will need, before any pixel is decoded; then a full decode inside the guard (strict
    for JPEG: damaged data is refused, never filled in), so truncated files fail here and not
    later.

    Args:
        data: the uploaded file, untrusted.
        limits: what to accept; the defaults are the product's.

    Returns:
        The 224x224 RGB JPEG (aspect ratio not kept: the model was trained on squashed images)
        with the original's SHA-256, displayed size, format and byte size.

    Raises:
        InvalidImage: with a message a person can act on, for anything that is not a usable
            JPEG, PNG or WebP within the limits. No other exception escapes for bad input.
    """
    limits = limits or ImageLimits()
    if not data:
        raise InvalidImage("empty", "The file is empty.")
    if len(data) > limits.max_bytes:
        raise too_large(len(data), limits.max_bytes)
    image = _open(data, limits)
    format_name = _format_name(image, data, limits)
    _check_dimensions(image, limits)
    structure = _jpeg_structure(data, limits) if format_name == "JPEG" else None
    _check_decode_cost(image, structure, limits)
    width, height = _displayed_size(image)
    rgb = _decode_to_rgb(image, data, structure)
    return PreparedImage(
        jpeg=_model_input_jpeg(rgb),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        format=format_name,
        bytes=len(data),
    )


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    allowed = sorted(limits.formats)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between ~89 and ~179 MP; a warning must refuse the file too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=allowed)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(
            "too_many_pixels",
            f"The image declares over {(Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} MP, more than "
            f"can be opened safely; the limit is {limits.max_pixels / 1e6:.0f} MP. "
            "Downscale it and try again.",
        ) from exc
    except Exception as exc:
        # Pillow raises many types for bad headers (UnidentifiedImageError, SyntaxError,
        # struct.error, ...); for untrusted bytes every one of them means "not usable".
        raise _unreadable(data, allowed) from exc


def _format_name(image: Image.Image, data: bytes, limits: ImageLimits) -> str:
    """The accepted format the image is, under the name records use."""
    name = _FORMAT_ALIASES.get(str(image.format), str(image.format))
    if name not in limits.formats:
        raise _unreadable(data, sorted(limits.formats))
    return name


def _jpeg_structure(data: bytes, limits: ImageLimits) -> jpeg.JpegStructure:
    try:
        return jpeg.read_structure(data, limits.max_scans)
    except jpeg.JpegRefused as exc:
        raise InvalidImage(exc.code, str(exc)) from exc


def _jpeg_scaled_size(size: tuple[int, int]) -> tuple[int, int]:
    """The largest size libjpeg's DCT scaling may decode at, keeping both sides long enough."""
    width, height = size
    for denominator in (8, 4, 2):
        scaled = (-(-width // denominator), -(-height // denominator))
        if min(scaled) >= _DECODE_SIDE:
            return scaled
    return size


def _check_decode_cost(
    image: Image.Image, structure: jpeg.JpegStructure | None, limits: ImageLimits
) -> None:
    needed = decode_bytes(image, structure, _jpeg_scaled_size(image.size))
    if needed <= limits.max_decode_bytes:
        return
    width, height = image.size
    fits = max_pixels_within(image, structure, limits.max_decode_bytes)
    kind = BY_NAME[_FORMAT_ALIASES.get(str(image.format), str(image.format))].label
    if structure is not None:
        advice = "Export it again as a standard (baseline) JPEG, or downscale it"
    elif image.has_transparency_data or image.mode.startswith("I"):
        advice = (
            f"Save it as a JPEG (no transparency, 8 bits), or downscale it to at most "
            f"{fits / 1e6:.1f} MP"
        )
    else:
        advice = f"Save it as a JPEG, or downscale it to at most {fits / 1e6:.1f} MP"
    raise InvalidImage(
        "too_costly",
        f"This {width}x{height} {kind} would need about {needed / 2**20:,.0f} MB of memory to "
        f"decode, more than the {limits.max_decode_bytes / 2**20:,.0f} MB allowed. "
        f"{advice} and try again.",
    )


def _unreadable(data: bytes, allowed: list[str]) -> InvalidImage:
    accepted = _accepted_formats(allowed)
    sniffed = sniff_format(data)
    if sniffed in _DOCUMENT_FORMATS:
        return InvalidImage(
            "not_an_image",
            f"This file is {_DOCUMENT_FORMATS[sniffed]}, not a photo. Upload {accepted}.",
        )
    if sniffed is None:
        return InvalidImage(
            "not_an_image", f"This file is not an image we can read. Upload {accepted}."
        )
    if sniffed not in allowed:
        return InvalidImage(
            "unsupported_format", f"{sniffed} images are not accepted. Upload {accepted}."
        )
    return InvalidImage(
        "corrupt", f"This {sniffed} file is damaged and cannot be read. Try exporting it again."
    )


def _check_dimensions(image: Image.Image, limits: ImageLimits) -> None:
    width, height = image.size
    if width * height > limits.max_pixels:
        raise InvalidImage(
            "too_many_pixels",
            f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} MP); "
            f"the limit is {limits.max_pixels / 1e6:.0f} MP. Downscale it and try again.",
        )
    if min(width, height) < limits.min_side:
        raise InvalidImage(
            "too_small",
            f"The image is only {width}x{height} pixels; at least {limits.min_side} pixels "
            "on each side are needed to see a lesion.",
        )
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_aspect_ratio:
        raise InvalidImage(
            "bad_aspect_ratio",
            f"The image is {width}x{height} pixels, {ratio:,.1f} times as long as it is wide; "
            f"at most {limits.max_aspect_ratio:g}:1 is accepted, because the model squashes "
            "every image to a square. Crop it around the lesion and try again.",
        )


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - bad EXIF is refused by the decode step, with its reason
        return 1


def _displayed_size(image: Image.Image) -> tuple[int, int]:
    """The size a viewer shows: EXIF orientations 5 to 8 turn the image a quarter."""
    width, height = image.size
    return (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)


_TRANSPOSES: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _decode_to_rgb(
    image: Image.Image, data: bytes, structure: jpeg.JpegStructure | None
) -> Image.Image:
    """Decode the first frame fully and normalise it to upright 8-bit RGB."""
    if structure is not None:
        try:
            rgb = jpeg.decode(data, structure, _DECODE_SIDE)
        except jpeg.JpegRefused as exc:
            raise InvalidImage(exc.code, str(exc)) from exc
        method = _TRANSPOSES.get(_orientation(image))
        return rgb if method is None else rgb.transpose(method)
    try:
        # load() inside the guard: a truncated file opens fine and only fails here.
        image.load()
        # In place: without it Pillow returns a full copy even when nothing needs turning.
        ImageOps.exif_transpose(image, in_place=True)
        return _to_rgb(image)
    except Exception as exc:
        # Corrupt data can make any decoder raise any type; none of it may escape as a crash.
        raise InvalidImage(
            "corrupt",
            f"This {image.format} file is damaged or truncated and cannot be read. "
            "Try exporting it again.",
        ) from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    # Every full-size copy made here is counted in runtime.decode_limits: keep them few.
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey: scale 0..65535 to 0..255; a plain convert clips everything to white.
        wide = image if image.mode == "I" else image.convert("I")
        image = wide.point(lambda value: value * (1 / 257), "L")
    if image.has_transparency_data:  # an alpha band, or a transparent palette entry or colour
        # Composite on white: a plain convert turns transparent pixels black. Pasting through
        # the alpha band blends onto the background without another RGBA copy.
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba)
        return background
    return image if image.mode == "RGB" else image.convert("RGB")  # no copy of an RGB image


def _model_input_jpeg(rgb: Image.Image) -> bytes:
    # Bilinear from the full image is what the model's own image processor does, so the
    # container's resize of our 224x224 input is a no-op and local and cloud scores agree.
    resized = rgb.resize(
        (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE), Image.Resampling.BILINEAR, reducing_gap=3.0
    )
    resized.info.clear()  # no EXIF, ICC or comments from the original leave this function
    out = io.BytesIO()
    # No optimize: it only shrinks the Huffman tables (the pixels are the same) and costs a
    # second pass over the image.
    resized.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _accepted_formats(allowed: Iterable[str]) -> str:
    listed = [BY_NAME[name].label for name in sorted(allowed)]
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
