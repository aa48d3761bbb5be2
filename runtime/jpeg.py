"""JPEG, strictly: the marker structure read before anything is decoded, and a decoder that
refuses damaged data instead of inventing pixels for it.

Why a second decoder: Pillow's JPEG decoder ignores libjpeg's warnings ("Corrupt JPEG data:
premature end of data segment", "bad Huffman code", "N extraneous bytes before marker") and
offers no hook to see them (its maintainers confirm there is no such check, python-pillow/Pillow
issue 9106), so a file with a hundred bytes of scan data and an end marker decodes to a flat grey
image without an error, and a model would score a picture nobody took. ``simplejpeg`` wraps
libjpeg-turbo's TurboJPEG API, which with ``strict=True`` stops at the first such warning with a
``ValueError``. Its wheels bundle libjpeg-turbo for Linux x86-64 and aarch64 (cp312 manylinux,
what the Lambda layer is built from), and with DCT scaling it decodes as fast as Pillow does, so
it replaces Pillow's decode of JPEGs rather than adding a second one. The alternatives: checking
the entropy-coded data ourselves needs a Huffman decoder in Python (hundreds of times slower);
PyTurboJPEG needs a system libturbojpeg that Lambda does not have; pyvips brings all of libvips.
simplejpeg loads numpy, so it is imported on first use: importing ``runtime`` stays light.

The marker walk (``read_structure``) is one pass over the bytes, with the scan data skipped in C,
and bounds the decoder's work before it starts: the number of scans (a progressive JPEG may
repeat a scan thousands of times, each one a pass over every block), the coding process, and
the memory a progressive decode needs for its coefficients.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from PIL import Image

DEFAULT_MAX_SCANS: Final = 100
"""Encoders write one scan per component (baseline) or about ten (libjpeg's and mozjpeg's
progressive scripts); a hundred leaves room for any real encoder and stops scan bombs, whose
decode time grows with every repeated scan."""

_FRAMES: Final = {0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive"}
_OTHER_FRAMES: Final = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOS: Final = 0xDA
_EOI: Final = 0xD9
_SOI: Final = 0xD8
_RESTARTS: Final = frozenset(range(0xD0, 0xD8))
# In scan data a 0xFF byte is followed by 0x00 (a stuffed 0xFF) or a restart marker; anything
# else (fill bytes included) starts the next marker segment.
_MARKER_IN_SCAN: Final = re.compile(rb"\xff[^\x00\xd0-\xd7]")


class JpegRefused(ValueError):
    """A JPEG that is not decoded. ``code`` is the refusal's short reason (``corrupt``,
    ``too_many_scans``, ``unsupported_format``); the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Component:
    """One colour component: its sampling factors."""

    horizontal: int
    vertical: int


@dataclass(frozen=True)
class JpegStructure:
    """What the markers of a JPEG say, before any of its data is decoded."""

    width: int
    height: int
    progressive: bool
    components: tuple[Component, ...]
    scans: int
    end: int
    """The offset just past the end-of-image marker of the first image (an MPO file holds
    more images after it; only the first is decoded)."""

    def coefficient_bytes(self) -> int:
        """What a progressive decode holds in memory: every DCT coefficient of every component
        (64 two-byte values per 8x8 block, blocks padded to whole MCUs). Sequential decoding
        needs only a row of MCUs, so this is 0 for it."""
        if not self.progressive:
            return 0
        h_max = max(c.horizontal for c in self.components)
        v_max = max(c.vertical for c in self.components)
        mcus_wide = math.ceil(self.width / (8 * h_max))
        mcus_high = math.ceil(self.height / (8 * v_max))
        blocks = sum(mcus_wide * c.horizontal * mcus_high * c.vertical for c in self.components)
        return blocks * 64 * 2


def read_structure(data: bytes, max_scans: int = DEFAULT_MAX_SCANS) -> JpegStructure:
    """Walk the markers of a JPEG without decoding it.

    Raises:
        JpegRefused: the structure is damaged (``corrupt``), it repeats more than
            ``max_scans`` scans (``too_many_scans``), or it uses a coding process other than
            8-bit baseline, extended sequential or progressive Huffman
            (``unsupported_format``).
    """
    if not data.startswith(b"\xff\xd8"):
        raise _damaged("it does not start like a JPEG")
    size = len(data)
    position = 2
    frame: tuple[int, int, bool, tuple[Component, ...]] | None = None
    scans = 0
    while True:
        if position >= size:
            raise _damaged("it ends before its end-of-image marker (it was cut short)")
        if data[position] != 0xFF:
            raise _damaged("it has stray bytes where a marker should be")
        while position < size and data[position] == 0xFF:  # fill bytes before a marker
            position += 1
        if position >= size:
            raise _damaged("it ends before its end-of-image marker (it was cut short)")
        marker = data[position]
        position += 1
        if marker == _EOI:
            break
        if marker in _RESTARTS or marker == 0x01:  # no length, no payload
            continue
        if marker in (0x00, _SOI):
            raise _damaged("it has a marker where none may be")
        if position + 2 > size:
            raise _damaged("it ends inside a marker segment (it was cut short)")
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 or position + length > size:
            raise _damaged("a marker segment's length runs past the end of the file")
        segment = data[position + 2 : position + length]
        position += length
        if marker in _FRAMES or marker in _OTHER_FRAMES:
            if frame is not None:
                raise _unsupported("it holds more than one frame (a hierarchical JPEG)")
            frame = _frame(marker, segment)
        elif marker == _SOS:
            if frame is None:
                raise _damaged("its image data comes before its frame header")
            scans += 1
            if scans > max_scans:
                raise JpegRefused(
                    "too_many_scans",
                    f"This JPEG repeats its image data in more than {max_scans} scans, far more "
                    "than any camera or editor writes, and would take too long to decode. "
                    "Export it again as a standard (baseline) JPEG and try again.",
                )
            found = _MARKER_IN_SCAN.search(data, position)
            position = found.start() if found else size
    if frame is None or scans == 0:
        raise _damaged("it holds no image data")
    width, height, progressive, components = frame
    return JpegStructure(width, height, progressive, components, scans, position)


def decode(data: bytes, structure: JpegStructure, min_side: int) -> Image.Image:
    """Decode the first image of a JPEG to RGB, refusing it at libjpeg's first warning.

    Args:
        data: the file.
        structure: what ``read_structure`` found in it.
        min_side: decode at the smallest DCT scale (1/2, 1/4, 1/8) that keeps both sides at
            least this long, for a fraction of the work.

    Raises:
        JpegRefused: ``corrupt``, with a message for a person.
    """
    import simplejpeg  # loads numpy: only when a JPEG is decoded

    try:
        pixels = simplejpeg.decode_jpeg(
            memoryview(data)[: structure.end],
            colorspace="RGB",
            min_height=min_side,
            min_width=min_side,
            strict=True,
        )
    except ValueError as exc:
        # libjpeg's text ("Corrupt JPEG data: 103 extraneous bytes before marker 0xd9") says
        # what broke, for the logs; the person gets a sentence.
        raise _damaged("its image data is damaged") from exc
    height, width = pixels.shape[:2]
    return Image.frombuffer("RGB", (width, height), pixels, "raw", "RGB", 0, 1)


def _frame(marker: int, segment: bytes) -> tuple[int, int, bool, tuple[Component, ...]]:
    if marker not in _FRAMES:
        raise _unsupported("it uses a lossless, arithmetic-coded or hierarchical JPEG process")
    if len(segment) < 6:
        raise _damaged("its frame header is too short")
    precision = segment[0]
    height = int.from_bytes(segment[1:3], "big")
    width = int.from_bytes(segment[3:5], "big")
    count = segment[5]
    if precision != 8:
        raise _unsupported(f"it stores {precision}-bit samples")
    if count not in (1, 3, 4) or len(segment) < 6 + 3 * count or not (width and height):
        raise _damaged("its frame header is malformed")
    components = []
    for index in range(count):
        sampling = segment[6 + 3 * index + 1]
        horizontal, vertical = sampling >> 4, sampling & 0x0F
        if not (1 <= horizontal <= 4 and 1 <= vertical <= 4):
            raise _damaged("its frame header is malformed")
        components.append(Component(horizontal, vertical))
    return width, height, marker == 0xC2, tuple(components)


def _damaged(why: str) -> JpegRefused:
    return JpegRefused(
        "corrupt",
        f"This JPEG file is damaged: {why}. A damaged image cannot be classified safely. "
        "Export or copy it again from the original.",
    )


def _unsupported(why: str) -> JpegRefused:
    return JpegRefused(
        "unsupported_format",
        f"This JPEG cannot be read: {why}. Export it again as a standard 8-bit JPEG.",
    )
