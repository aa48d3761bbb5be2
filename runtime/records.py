"""The storage key layout and the prediction record: the one contract between runtime and app."""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal

from runtime.labels import CLASSES

SCHEMA_VERSION: Final = 1
SCORE_SUM_TOLERANCE: Final = 1e-3

# Ids sort newest first as plain strings: 13 digits of (10**13 - 1 - epoch milliseconds), then
# 10 random hex digits so two uploads in the same millisecond never collide. An ascending
# listing of an owner's prefix is then the newest results, one bounded page at a time.
_ID_PATTERN: Final = re.compile(r"^[0-9]{13}[0-9a-f]{10}$")
_ID_CLOCK_SPAN: Final = 10**13
_OWNER_PATTERN: Final = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")
_EXTENSION_PATTERN: Final = re.compile(r"^[a-z0-9]{1,5}$")

Status = Literal["ok", "error"]


class InvalidKey(ValueError):
    """A storage key that does not follow the layout (or an id or owner that cannot be one)."""


class InvalidRecord(ValueError):
    """A prediction record that breaks the contract: wrong fields, scores or status."""


class UnsupportedSchema(InvalidRecord):
    """A record written by another version of dermascan."""


class _MonotonicMillis:
    """Milliseconds that never repeat or go back within this process.

    Two uploads in the same millisecond get consecutive values, so ids made by one process sort
    in the order they were made; the clock runs ahead by at most one millisecond per id.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1_000_000, self._last + 1)
            return self._last


_MILLIS = _MonotonicMillis()


def new_id(now: datetime | None = None) -> str:
    """A new opaque, unique id that sorts before every id made earlier.

    Args:
        now: the creation time, timezone-aware. Without it the current time is used, and ids
            made by this process sort strictly in the order they were made.
    """
    millis = _MILLIS.next() if now is None else int(now.timestamp() * 1000)
    if not 0 <= millis < _ID_CLOCK_SPAN:
        raise ValueError(f"cannot make an id for {millis} ms since the epoch")
    return f"{_ID_CLOCK_SPAN - 1 - millis:013d}{secrets.token_hex(5)}"


def derived_id(key: str, uploaded_at: datetime) -> str:
    """The id of an upload that was not named by dermascan (dropped in by another tool).

    Deterministic, so a redelivered notification finds the same record: the time part is the
    upload's time, the rest a hash of its key. It sorts among other ids by that time.
    """
    millis = int(uploaded_at.timestamp() * 1000)
    if not 0 <= millis < _ID_CLOCK_SPAN:
        raise ValueError(f"cannot make an id for {uploaded_at.isoformat()}")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return f"{_ID_CLOCK_SPAN - 1 - millis:013d}{digest}"


def check_id(prediction_id: str) -> str:
    """Return ``prediction_id`` if it is a well-formed id, else raise ``InvalidKey``."""
    if not _ID_PATTERN.fullmatch(prediction_id):
        raise InvalidKey(f"not a prediction id: {prediction_id!r}")
    return prediction_id


def id_time(prediction_id: str) -> datetime:
    """When an id was made (to the millisecond; for an upload named by another tool, its time)."""
    millis = _ID_CLOCK_SPAN - 1 - int(check_id(prediction_id)[:13])
    return datetime.fromtimestamp(millis / 1000, UTC)


def check_owner(owner: str) -> str:
    """Return ``owner`` if it is a safe slug (lower-case letters, digits, ``-``, ``_``; 1-63)."""
    if not _OWNER_PATTERN.fullmatch(owner):
        raise InvalidKey(f"not a valid owner: {owner!r}")
    return owner


def owner_for_identity(subject: str) -> str:
    """An opaque owner slug for a signed-in identity (an OIDC subject or e-mail address).

    The slug is a hash, so storage keys never reveal who a patient or clinician is.
    """
    if not subject:
        raise ValueError("an identity is needed to derive an owner")
    return "u-" + hashlib.sha256(subject.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class UploadRef:
    """The parts of an upload key."""

    owner: str
    id: str
    extension: str


@dataclass(frozen=True)
class KeyLayout:
    """Where uploads, prediction records and model-input thumbnails live in a store.

    ``uploads/<owner>/<id>.<ext>`` is what users write; the pipeline writes
    ``predictions/<owner>/<id>.json`` and ``thumbnails/<owner>/<id>.jpg``. Results never land
    under the uploads prefix, so processing a result can never trigger another run.
    """

    uploads: str = "uploads/"
    predictions: str = "predictions/"
    thumbnails: str = "thumbnails/"

    def __post_init__(self) -> None:
        prefixes = (self.uploads, self.predictions, self.thumbnails)
        for prefix in prefixes:
            if not re.fullmatch(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*/", prefix):
                raise ValueError(f"a key prefix must look like 'name/', got {prefix!r}")
        for a in prefixes:
            for b in prefixes:
                if a is not b and a.startswith(b):
                    raise ValueError(f"key prefixes must not nest: {a!r} is inside {b!r}")

    def upload_key(self, owner: str, prediction_id: str, extension: str) -> str:
        """The key an upload is stored under."""
        if not _EXTENSION_PATTERN.fullmatch(extension):
            raise InvalidKey(f"not a valid file extension: {extension!r}")
        return f"{self.owner_uploads(owner)}{check_id(prediction_id)}.{extension}"

    def prediction_key(self, owner: str, prediction_id: str) -> str:
        """The key of the prediction record for an upload."""
        return f"{self.owner_predictions(owner)}{check_id(prediction_id)}.json"

    def thumbnail_key(self, owner: str, prediction_id: str) -> str:
        """The key of the 224x224 model input kept for the history view."""
        return f"{self.thumbnails}{check_owner(owner)}/{check_id(prediction_id)}.jpg"

    def owner_uploads(self, owner: str) -> str:
        """The prefix of all uploads of one owner, newest first."""
        return f"{self.uploads}{check_owner(owner)}/"

    def owner_predictions(self, owner: str) -> str:
        """The prefix of all prediction records of one owner, newest first."""
        return f"{self.predictions}{check_owner(owner)}/"

    def parse_upload_key(self, key: str) -> UploadRef:
        """Split an upload key into owner, id and extension.

        Raises:
            InvalidKey: if ``key`` is not an upload key of this layout.
        """
        if not key.startswith(self.uploads):
            raise InvalidKey(f"not under {self.uploads!r}: {key!r}")
        owner, slash, name = key[len(self.uploads) :].partition("/")
        prediction_id, dot, extension = name.partition(".")
        if not slash or not dot:
            raise InvalidKey(f"not an upload key ({self.uploads}<owner>/<id>.<ext>): {key!r}")
        ref = UploadRef(owner=owner, id=prediction_id, extension=extension)
        if self.upload_key(check_owner(owner), prediction_id, extension) != key:
            raise InvalidKey(f"not an upload key ({self.uploads}<owner>/<id>.<ext>): {key!r}")
        return ref

    def upload_ref(self, key: str, uploaded_at: datetime | None = None) -> UploadRef:
        """Owner and id of any upload: one named by dermascan, or (given its upload time) one
        dropped under ``<uploads>/<owner>/`` with a name of its own, such as ``my photo.jpg``.

        Raises:
            InvalidKey: ``key`` is not under ``<uploads>/<valid owner>/``, or has a name of its
                own and no ``uploaded_at`` to derive its id from.
        """
        try:
            return self.parse_upload_key(key)
        except InvalidKey:
            if uploaded_at is None:
                raise
        owner, slash, name = key.removeprefix(self.uploads).partition("/")
        if not key.startswith(self.uploads) or not slash or not name or "/" in name:
            raise InvalidKey(f"not an upload key ({self.uploads}<owner>/<name>): {key!r}")
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        return UploadRef(
            owner=check_owner(owner), id=derived_id(key, uploaded_at), extension=extension
        )


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
    schema_version: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        _check_fields(self)
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
        if version != SCHEMA_VERSION:
            raise UnsupportedSchema(
                f"prediction record has schema_version {version!r}; this dermascan reads "
                f"version {SCHEMA_VERSION}. Upgrade dermascan or migrate the record."
            )
        expected = set(cls.__dataclass_fields__)
        if set(data) != expected:
            missing, extra = expected - set(data), set(data) - expected
            raise InvalidRecord(
                f"prediction record fields differ: missing {sorted(missing)}, extra {sorted(extra)}"
            )
        try:
            return cls(
                schema_version=version,
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
