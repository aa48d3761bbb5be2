"""The prediction record: one upload's result, the one contract between the pipeline and the app."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal

from runtime.cases import CaseDetails, InvalidCase
from runtime.keys import InvalidKey, check_id, check_owner
from runtime.labels import CLASSES

SCHEMA_VERSION: Final = 2
"""The version of the record this dermascan writes.

The schema policy, for every reader (the app, the CLI, the pipeline's idempotency check):
- Writers write only ``SCHEMA_VERSION``. Any change to the fields (added, removed, renamed, a
  new meaning) raises the version by one; a record is never rewritten in place to upgrade it.
- A reader of version N reads versions 1..N: an older record is upgraded in memory by
  ``from_dict`` (its missing fields get the value that means "not recorded"), so history written
  by an earlier dermascan stays readable.
- A record of a newer version, of no version, or whose fields do not match its version is
  *unreadable*: ``from_dict`` raises ``UnsupportedSchema`` or ``InvalidRecord`` naming why.
  Guessing at unknown fields could show a score a newer model never meant.
- An unreadable record never hides other records: listings show it as one unreadable entry
  and go on (``runtime.results``); the pipeline treats it as a permanent fault of that upload.

Versions: 1, the first; 2 adds ``reference`` and ``note`` (the case details given with the
upload; a version 1 record is read with both None).
"""
SCORE_SUM_TOLERANCE: Final = 1e-3

Status = Literal["ok", "error"]


class InvalidRecord(ValueError):
    """A prediction record that breaks the contract: wrong fields, scores or status."""


class UnsupportedSchema(InvalidRecord):
    """A record written by another version of dermascan."""


class UnreadableRecord(Exception):
    """A stored record that cannot be read: empty, truncated, of a newer schema, with fields it
    should not have. One bad entry, never a broken page (see the schema policy above).

    Attributes:
        key: where it is stored.
        reason: why it cannot be read (``InvalidRecord``'s message), for the logs.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"the record {key} cannot be read: {reason}")
        self.key = key
        self.reason = reason


def read_stored(key: str, data: bytes) -> Prediction:
    """The record stored under ``key``.

    Raises:
        UnreadableRecord: ``data`` is not a record this dermascan can read.
    """
    try:
        return Prediction.from_json(data)
    except InvalidRecord as exc:
        raise UnreadableRecord(key, str(exc)) from exc


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a record, and how it was run."""

    id: str
    revision: str | None
    backend: str
    """``transformers`` (local CPU) or ``sagemaker`` (the deployed endpoint)."""
    endpoint: str | None = None
    """The SageMaker endpoint name, for the sagemaker backend."""


@dataclass(frozen=True)
class ImageInfo:
    """What is known of the original upload. Width, height and format are None if unreadable."""

    sha256: str
    bytes: int
    width: int | None = None
    height: int | None = None
    format: str | None = None


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent reading and preparing the image, in the model, and in all."""

    preprocess: float
    inference: float
    total: float


@dataclass(frozen=True)
class ErrorInfo:
    """Why no prediction was made: a short code for metrics and a message for a person."""

    code: str
    message: str


@dataclass(frozen=True)
class Prediction:
    """One upload's result: all seven class scores, or the reason there are none.

    Construct through ``ok`` or ``failed``; the constructor checks every invariant, so an
    instance is always a valid record.
    """

    id: str
    owner: str
    upload_key: str
    status: Status
    scores: Mapping[str, float]
    top: str | None
    error: ErrorInfo | None
    model: ModelInfo
    image: ImageInfo | None
    timings_ms: Timings
    created_at: str
    reference: str | None = None
    """The clinic's own case reference given with the upload (schema 2), or None."""
    note: str | None = None
    """The note given with the upload (schema 2), or None."""
    schema_version: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        _check_fields(self)
        try:
            CaseDetails(self.reference, self.note)  # the same rules as when they were given
        except InvalidCase as exc:
            raise InvalidRecord(f"case details: {exc}") from exc
        # A read-only copy in class order: records compare, print and serialise the same way.
        ordered = {code: float(self.scores[code]) for code in CLASSES if code in self.scores}
        object.__setattr__(self, "scores", MappingProxyType(ordered))

    @classmethod
    def ok(
        cls,
        *,
        id: str,
        owner: str,
        upload_key: str,
        scores: Mapping[str, float],
        model: ModelInfo,
        image: ImageInfo,
        timings_ms: Timings,
        created_at: datetime,
        case: CaseDetails | None = None,
    ) -> Prediction:
        """A successful prediction; ``top`` is the highest-scoring class."""
        return cls(
            id=id,
            owner=owner,
            upload_key=upload_key,
            status="ok",
            scores=scores,
            top=max(CLASSES, key=lambda code: scores.get(code, -1.0)),
            error=None,
            model=model,
            image=image,
            timings_ms=timings_ms,
            created_at=_iso(created_at),
            reference=case.reference if case else None,
            note=case.note if case else None,
        )

    @classmethod
    def failed(
        cls,
        *,
        id: str,
        owner: str,
        upload_key: str,
        error: ErrorInfo,
        model: ModelInfo,
        image: ImageInfo | None,
        timings_ms: Timings,
        created_at: datetime,
        case: CaseDetails | None = None,
    ) -> Prediction:
        """A record saying why an upload could not be classified."""
        return cls(
            id=id,
            owner=owner,
            upload_key=upload_key,
            status="error",
            scores={},
            top=None,
            error=error,
            model=model,
            image=image,
            timings_ms=timings_ms,
            created_at=_iso(created_at),
            reference=case.reference if case else None,
            note=case.note if case else None,
        )

    def ranked(self) -> list[tuple[str, float]]:
        """The scores as (code, score), highest first; empty for an error record."""
        return sorted(self.scores.items(), key=lambda item: item[1], reverse=True)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready data, fields in schema order."""

        def plain(value: object) -> object:
            return None if value is None else asdict(value)  # type: ignore[call-overload]

        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "owner": self.owner,
            "upload_key": self.upload_key,
            "status": self.status,
            "scores": dict(self.scores),
            "top": self.top,
            "error": plain(self.error),
            "model": plain(self.model),
            "image": plain(self.image),
            "timings_ms": plain(self.timings_ms),
            "created_at": self.created_at,
            "reference": self.reference,
            "note": self.note,
        }

    def to_json(self) -> str:
        """The record as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prediction:
        """Load a record from decoded JSON.

        Raises:
            UnsupportedSchema: if the record was written with another schema version.
            InvalidRecord: if fields are missing, extra or break the contract.
        """
        if not isinstance(data, Mapping):
            raise InvalidRecord("a prediction record must be a JSON object")
        version = data.get("schema_version")
        if version not in _FIELDS_OF:
            raise UnsupportedSchema(
                f"prediction record has schema_version {version!r}; this dermascan reads "
                f"versions 1 to {SCHEMA_VERSION}. Upgrade dermascan or migrate the record."
            )
        expected = _FIELDS_OF[version]
        if set(data) != expected:
            missing, extra = expected - set(data), set(data) - expected
            raise InvalidRecord(
                f"prediction record fields differ: missing {sorted(missing)}, extra {sorted(extra)}"
            )
        try:
            # An older record is read as the current version: what it could not hold, it did
            # not record (schema 1 had no case details).
            return cls(
                id=data["id"],
                owner=data["owner"],
                upload_key=data["upload_key"],
                status=data["status"],
                scores=dict(data["scores"]),
                top=data["top"],
                error=None if data["error"] is None else ErrorInfo(**data["error"]),
                model=ModelInfo(**data["model"]),
                image=None if data["image"] is None else ImageInfo(**data["image"]),
                timings_ms=Timings(**data["timings_ms"]),
                created_at=data["created_at"],
                reference=data.get("reference"),
                note=data.get("note"),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InvalidRecord):
                raise
            raise InvalidRecord(f"malformed prediction record: {exc}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Prediction:
        """Load a record from JSON text (see ``from_dict`` for the errors)."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidRecord(f"prediction record is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


_SCHEMA_1_FIELDS: Final = frozenset(
    {
        "schema_version",
        "id",
        "owner",
        "upload_key",
        "status",
        "scores",
        "top",
        "error",
        "model",
        "image",
        "timings_ms",
        "created_at",
    }
)
_FIELDS_OF: Final = {
    1: _SCHEMA_1_FIELDS,
    2: _SCHEMA_1_FIELDS | {"reference", "note"},
}
"""The fields a record of each readable schema version holds: exactly these."""


def _check_fields(record: Prediction) -> None:
    try:
        check_id(record.id)
        check_owner(record.owner)
    except InvalidKey as exc:
        raise InvalidRecord(str(exc)) from exc
    if record.schema_version != SCHEMA_VERSION:
        raise UnsupportedSchema(f"schema_version must be {SCHEMA_VERSION}")
    if not isinstance(record.upload_key, str) or not record.upload_key:
        raise InvalidRecord("upload_key must be a non-empty string")
    _parse_time(record.created_at)
    if record.status == "ok":
        _check_scores(record.scores)
        if record.error is not None:
            raise InvalidRecord("an ok record carries no error")
        best = max(record.scores.values())
        if record.top not in CLASSES or record.scores[record.top] != best:
            raise InvalidRecord(f"top must be the highest-scoring class, got {record.top!r}")
    elif record.status == "error":
        if record.error is None or not record.error.code or not record.error.message:
            raise InvalidRecord("an error record needs an error code and message")
        if record.scores or record.top is not None:
            raise InvalidRecord("an error record carries no scores and no top class")
    else:
        raise InvalidRecord(f"status must be 'ok' or 'error', got {record.status!r}")


def _check_scores(scores: Mapping[str, float]) -> None:
    if set(scores) != set(CLASSES):
        raise InvalidRecord(f"scores must cover exactly {CLASSES}, got {sorted(scores)}")
    for code, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise InvalidRecord(f"score of {code} is not a number: {score!r}")
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise InvalidRecord(f"score of {code} must be within [0, 1], got {score!r}")
    total = math.fsum(scores.values())
    if abs(total - 1.0) > SCORE_SUM_TOLERANCE:
        raise InvalidRecord(f"scores must sum to 1 (within {SCORE_SUM_TOLERANCE}), got {total}")


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"created_at must be ISO 8601, got {text!r}") from exc
    if moment.tzinfo is None or moment.utcoffset() != UTC.utcoffset(None):
        raise InvalidRecord(f"created_at must be in UTC, got {text!r}")
    return moment
