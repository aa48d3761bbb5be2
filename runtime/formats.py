"""The image formats dermascan accepts: how each is named, stored and served. Standard library only.

The one list of formats: the image checks, the storage keys, the content types, the app's
uploader and the stack's infrastructure all derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
"""The largest upload accepted (10 MiB): checked before anything is decoded, in the app, the CLI
and the function, which the stack configures with it."""


@dataclass(frozen=True)
class ImageFormat:
    """One accepted format."""

    name: str
    """Pillow's name for it, as an upload's content is sniffed: ``JPEG``, ``PNG``, ``WEBP``."""
    label: str
    """How a person calls it: ``JPEG``, ``PNG``, ``WebP``."""
    extension: str
    """The extension its uploads are stored under (never the user's own file name)."""
    content_type: str
    suffixes: tuple[str, ...]
    """The file-name suffixes users' files of this format carry, lower-case, without the dot."""


FORMATS: Final = (
    ImageFormat("JPEG", "JPEG", "jpg", "image/jpeg", ("jpg", "jpeg")),
    ImageFormat("PNG", "PNG", "png", "image/png", ("png",)),
    ImageFormat("WEBP", "WebP", "webp", "image/webp", ("webp",)),
)

BY_NAME: Final = MappingProxyType({f.name: f for f in FORMATS})
"""Each format by its Pillow name."""

UPLOAD_SUFFIXES: Final = tuple(suffix for f in FORMATS for suffix in f.suffixes)
"""File-name suffixes an upload form offers (``jpg``, ``jpeg``, ``png``, ``webp``)."""

UNKNOWN_EXTENSION: Final = "bin"
"""The extension of an upload that is no accepted image: it is stored, and its record says why."""
UNKNOWN_CONTENT_TYPE: Final = "application/octet-stream"


def content_type(extension: str) -> str:
    """The content type an object stored with ``extension`` is served with."""
    for image_format in FORMATS:
        if image_format.extension == extension:
            return image_format.content_type
    return UNKNOWN_CONTENT_TYPE


def extension_for(format_name: str | None) -> str:
    """The storage extension for content sniffed as ``format_name`` (``bin`` if not accepted)."""
    image_format = BY_NAME.get(format_name or "")
    return image_format.extension if image_format else UNKNOWN_EXTENSION
