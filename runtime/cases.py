"""Case details a clinic gives with an upload: its own reference for the patient or lesion, and
a note. Both optional, both validated; the reference is never part of a storage key."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Final

REFERENCE_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}")
"""A clinic's own code: letters, digits, ``.``, ``_``, ``/`` and ``-``; 1 to 40 characters,
starting with a letter or digit. No spaces, so a code is matched exactly."""
MAX_NOTE: Final = 500


class InvalidCase(ValueError):
    """A reference or note that cannot be kept; the message says what is allowed."""


def check_reference(text: str) -> str:
    """The reference as kept: surrounding spaces dropped.

    Raises:
        InvalidCase: it does not follow ``REFERENCE_PATTERN``.
    """
    reference = text.strip()
    if not REFERENCE_PATTERN.fullmatch(reference):
        raise InvalidCase(
            "A reference is 1 to 40 letters, digits, '.', '_', '/' or '-', starting with a "
            "letter or digit (for example P-1042/L2). Leave it empty if there is none."
        )
    return reference


def check_note(text: str) -> str:
    """The note as kept: control characters and surrounding spaces dropped.

    Raises:
        InvalidCase: it is longer than ``MAX_NOTE`` characters.
    """
    note = "".join(
        c if unicodedata.category(c)[0] != "C" or c in "\n" else " " for c in text
    ).strip()
    if len(note) > MAX_NOTE:
        raise InvalidCase(f"A note is at most {MAX_NOTE} characters; this one has {len(note)}.")
    return note


def reference_digest(reference: str) -> str:
    """The digest a reference is indexed under: case-insensitive (``p-1042`` is ``P-1042``),
    and no key ever shows the clinic's code."""
    return hashlib.sha256(check_reference(reference).casefold().encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class CaseDetails:
    """What an uploader said about the case: a reference, a note, or neither."""

    reference: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.reference is not None:
            object.__setattr__(self, "reference", check_reference(self.reference))
        if self.note is not None:
            object.__setattr__(self, "note", check_note(self.note) or None)

    @classmethod
    def given(cls, reference: str, note: str) -> CaseDetails:
        """From two form fields, empty meaning not given.

        Raises:
            InvalidCase: with what is allowed.
        """
        return cls(reference.strip() or None, note.strip() or None)

    @property
    def empty(self) -> bool:
        return self.reference is None and self.note is None

    def to_json(self) -> str:
        return json.dumps({"reference": self.reference, "note": self.note}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> CaseDetails:
        """Read stored case details.

        Raises:
            InvalidCase: they are not case details.
        """
        try:
            data: Any = json.loads(text)
            if not isinstance(data, dict) or set(data) != {"reference", "note"}:
                raise InvalidCase("case details need exactly 'reference' and 'note'")
            return cls(data["reference"], data["note"])
        except (ValueError, TypeError) as exc:
            if isinstance(exc, InvalidCase):
                raise
            raise InvalidCase(f"unreadable case details: {exc}") from exc
