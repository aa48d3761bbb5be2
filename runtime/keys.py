"""Where things live in a store: ids, owners, the key layout and the one upload type.

Standard library only, so the infrastructure program derives the bucket's notification filter,
its lifecycle rules, the IAM scopes and the function's environment from the same layout the
pipeline writes with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Final

from runtime.formats import extension_for

LOCAL_OWNER: Final = "local"
"""The owner of everything on the local backend when nobody signs in."""
SHARED_OWNER: Final = "shared"
"""The owner of everything on the AWS backend when nobody signs in."""

# Ids sort newest first as plain strings: 13 digits of (10**13 - 1 - epoch milliseconds), then
# 10 random hex digits so two uploads in the same millisecond never collide. An ascending
# listing of an owner's prefix is then the newest results, one bounded page at a time.
_ID_PATTERN: Final = re.compile(r"^[0-9]{13}[0-9a-f]{10}$")
_ID_CLOCK_SPAN: Final = 10**13
_OWNER_PATTERN: Final = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")
_EXTENSION_PATTERN: Final = re.compile(r"^[a-z0-9]{1,5}$")
_PREFIX_PATTERN: Final = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*/")
_DIGEST_PATTERN: Final = re.compile(r"[0-9a-f]{32}")


class InvalidKey(ValueError):
    """A storage key that does not follow the layout (or an id or owner that cannot be one)."""


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
    if not isinstance(prediction_id, str) or not _ID_PATTERN.fullmatch(prediction_id):
        raise InvalidKey(f"not a prediction id: {prediction_id!r}")
    return prediction_id


def is_id(text: str) -> bool:
    """Whether ``text`` is a well-formed id (for input that must be refused before any use)."""
    return isinstance(text, str) and _ID_PATTERN.fullmatch(text) is not None


def id_time(prediction_id: str) -> datetime:
    """When an id was made (to the millisecond; for an upload named by another tool, its time)."""
    millis = _ID_CLOCK_SPAN - 1 - int(check_id(prediction_id)[:13])
    return datetime.fromtimestamp(millis / 1000, UTC)


def check_owner(owner: str) -> str:
    """Return ``owner`` if it is a safe slug (lower-case letters, digits, ``-``, ``_``; 1-63)."""
    if not isinstance(owner, str) or not _OWNER_PATTERN.fullmatch(owner):
        raise InvalidKey(f"not a valid owner: {owner!r}")
    return owner


def owner_for_identity(issuer: str, subject: str) -> str:
    """An opaque owner slug for a signed-in identity: an OIDC issuer and subject together.

    A subject is unique only within its issuer, so two identity providers may give two people
    the same one: the owner hashes both. Never an e-mail address (people change it, providers
    reuse it, and storage keys must not reveal who a patient or clinician is).

    Args:
        issuer: the ID token's ``iss``, exactly as the provider sent it (OIDC compares issuers
            as exact strings, so neither is normalised here).
        subject: the ID token's ``sub``.

    Raises:
        ValueError: the issuer or the subject is missing or empty.
    """
    if not isinstance(issuer, str) or not issuer or not isinstance(subject, str) or not subject:
        raise ValueError("an identity needs both an issuer and a subject to derive an owner")
    # A JSON array keeps the two apart: no issuer and subject pair can spell another pair.
    identity = json.dumps([issuer, subject], ensure_ascii=False, separators=(",", ":"))
    return "u-" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Upload:
    """One upload: whose it is, its id (which names its record) and its key in the store."""

    owner: str
    id: str
    key: str

    @property
    def extension(self) -> str:
        """The key's extension (``jpg``, ``png``, ``webp``, ``bin``; empty if it has none)."""
        name = self.key.rpartition("/")[2]
        return name.rpartition(".")[2].lower() if "." in name else ""


@dataclass(frozen=True)
class KeyLayout:
    """Where everything of a result lives in a store, one prefix per kind, then the owner.

    Users (through the app) write ``uploads/<owner>/<id>.<ext>``, the case details they give
    with it (``cases/``), an index of their case references (``references/``), requests for an
    explanation (``explain-requests/``) and confirmed outcomes (``outcomes/``). The pipeline
    writes ``predictions/<owner>/<id>.json``, ``thumbnails/<owner>/<id>.jpg`` and
    ``explanations/``. Nothing the pipeline writes lands where it is notified, so processing
    can never trigger itself.

    Each field is one prefix. Everything that must agree with the layout (the stack's
    notification filter, lifecycle rules, IAM scopes, the function's environment) reads the
    prefixes by field name (``prefixes``, ``notified``, ``function_reads``, ``function_writes``,
    ``app_writes``, ``environment``), never by position.
    """

    uploads: str = "uploads/"
    predictions: str = "predictions/"
    thumbnails: str = "thumbnails/"
    cases: str = "cases/"
    references: str = "references/"
    explanations: str = "explanations/"
    explain_requests: str = "explain-requests/"
    outcomes: str = "outcomes/"

    # Who does what, by field name.
    _NOTIFIED: ClassVar = ("uploads", "explain_requests", "outcomes")
    _FUNCTION_WRITES: ClassVar = ("predictions", "thumbnails", "explanations")
    _FUNCTION_READS: ClassVar = ("uploads", "cases", "explain_requests", "outcomes")
    _APP_WRITES: ClassVar = ("uploads", "cases", "references", "explain_requests", "outcomes")

    def __post_init__(self) -> None:
        prefixes = self.prefixes()
        for name, prefix in prefixes.items():
            if not isinstance(prefix, str) or not _PREFIX_PATTERN.fullmatch(prefix):
                raise ValueError(f"the {name} prefix must look like 'name/', got {prefix!r}")
        for a_name, a in prefixes.items():
            for b_name, b in prefixes.items():
                if a_name != b_name and a.startswith(b):
                    raise ValueError(
                        f"key prefixes must not nest: {a_name} {a!r} is inside {b_name} {b!r}"
                    )

    def prefixes(self) -> dict[str, str]:
        """Every prefix by its name (``uploads``, ``predictions``, ...)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def notified(self) -> dict[str, str]:
        """The prefixes whose new objects the function is told of: uploads to classify,
        explanations asked for, outcomes confirmed (for their metric)."""
        return self._pick(self._NOTIFIED)

    def notified_kind(self, key: str) -> str | None:
        """The name of the notified prefix ``key`` lies under (``uploads``,
        ``explain_requests``, ``outcomes``), or None: what the function does with it."""
        for name, prefix in self.notified().items():
            if key.startswith(prefix):
                return name
        return None

    def function_writes(self) -> dict[str, str]:
        """The prefixes the pipeline writes to: records, thumbnails, explanations."""
        return self._pick(self._FUNCTION_WRITES)

    def function_reads(self) -> dict[str, str]:
        """The prefixes the pipeline reads: what it is told of, the case details, and what it
        wrote itself (so a redelivered message finds its result)."""
        return self._pick((*self._FUNCTION_READS, *self._FUNCTION_WRITES))

    def app_writes(self) -> dict[str, str]:
        """The prefixes the app writes to (it deletes under every prefix, for its owner)."""
        return self._pick(self._APP_WRITES)

    def _pick(self, names: tuple[str, ...]) -> dict[str, str]:
        prefixes = self.prefixes()
        return {name: prefixes[name] for name in names}

    @staticmethod
    def variable(name: str) -> str:
        """The environment variable that carries the prefix called ``name``."""
        return f"{name.upper()}_PREFIX"

    def environment(self) -> dict[str, str]:
        """The layout as environment variables (``UPLOADS_PREFIX`` ...), for the function."""
        return {self.variable(name): prefix for name, prefix in self.prefixes().items()}

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> KeyLayout:
        """The layout ``environment`` wrote; a variable that is not set keeps its default.

        Raises:
            ValueError: a prefix is malformed or nests in another.
        """
        given = {
            f.name: env[cls.variable(f.name)]
            for f in dataclasses.fields(cls)
            if env.get(cls.variable(f.name), "").strip()
        }
        return cls(**given)

    def new_upload(self, owner: str, format_name: str | None) -> Upload:
        """A new upload of ``owner`` under a fresh opaque id, never the user's file name.

        Args:
            owner: whose it is.
            format_name: the format its content was sniffed as (None or an unaccepted format
                gives the ``bin`` extension: stored anyway, its record says why).
        """
        prediction_id = new_id()
        return Upload(
            owner=owner,
            id=prediction_id,
            key=self.upload_key(owner, prediction_id, extension_for(format_name)),
        )

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

    def case_key(self, owner: str, prediction_id: str) -> str:
        """The key of the case details (reference, note) given with an upload."""
        return f"{self.cases}{check_owner(owner)}/{check_id(prediction_id)}.json"

    def reference_prefix(self, owner: str, digest: str) -> str:
        """Where the results of one case reference are indexed (by the reference's digest, so
        no key carries a clinic's own code)."""
        if not _DIGEST_PATTERN.fullmatch(digest):
            raise InvalidKey(f"not a reference digest: {digest!r}")
        return f"{self.references}{check_owner(owner)}/{digest}/"

    def reference_key(self, owner: str, digest: str, prediction_id: str) -> str:
        """The index entry of one result under its case reference (an empty object)."""
        return f"{self.reference_prefix(owner, digest)}{check_id(prediction_id)}"

    def explanation_keys(self, owner: str, prediction_id: str) -> tuple[str, str]:
        """The keys of a result's explanation: the heat map (PNG) and its parameters (JSON)."""
        stem = f"{self.explanations}{check_owner(owner)}/{check_id(prediction_id)}"
        return f"{stem}.png", f"{stem}.json"

    def explain_request_key(self, owner: str, prediction_id: str) -> str:
        """The key that asks for a result's explanation (the function is told of it)."""
        return f"{self.explain_requests}{check_owner(owner)}/{check_id(prediction_id)}.json"

    def parse_explain_request_key(self, key: str) -> tuple[str, str]:
        """Owner and prediction id of an explanation request's key.

        Raises:
            InvalidKey: ``key`` is not one.
        """
        owner, slash, name = key.removeprefix(self.explain_requests).partition("/")
        prediction_id, _, extension = name.partition(".")
        if not key.startswith(self.explain_requests) or not slash or extension != "json":
            raise InvalidKey(f"not an explanation request: {key!r}")
        return check_owner(owner), check_id(prediction_id)

    def outcomes_prefix(self, owner: str, prediction_id: str | None = None) -> str:
        """The prefix of an owner's confirmed outcomes, or of one result's (newest first)."""
        prefix = f"{self.outcomes}{check_owner(owner)}/"
        return prefix if prediction_id is None else f"{prefix}{check_id(prediction_id)}/"

    def outcome_key(self, owner: str, prediction_id: str, entry_id: str) -> str:
        """The key of one confirmed outcome of a result; ``entry_id`` (a ``new_id``) makes the
        newest outcome list first."""
        return f"{self.outcomes_prefix(owner, prediction_id)}{check_id(entry_id)}.json"

    def parse_outcome_key(self, key: str) -> tuple[str, str, str]:
        """Owner, prediction id and entry id of an outcome's key.

        Raises:
            InvalidKey: ``key`` is not one.
        """
        parts = key.removeprefix(self.outcomes).split("/")
        if not key.startswith(self.outcomes) or len(parts) != 3 or not parts[2].endswith(".json"):
            raise InvalidKey(f"not an outcome key: {key!r}")
        owner, prediction_id, name = parts
        return check_owner(owner), check_id(prediction_id), check_id(name.removesuffix(".json"))

    def owner_prefixes(self, owner: str) -> list[str]:
        """Every prefix that holds something of ``owner``: all of it, to delete it all."""
        return [f"{prefix}{check_owner(owner)}/" for prefix in self.prefixes().values()]

    def owner_uploads(self, owner: str) -> str:
        """The prefix of all uploads of one owner, newest first."""
        return f"{self.uploads}{check_owner(owner)}/"

    def owner_predictions(self, owner: str) -> str:
        """The prefix of all prediction records of one owner, newest first."""
        return f"{self.predictions}{check_owner(owner)}/"

    def parse_upload_key(self, key: str) -> Upload:
        """The upload a key names, if dermascan named it (``<uploads><owner>/<id>.<ext>``).

        Raises:
            InvalidKey: if ``key`` is not an upload key of this layout.
        """
        if not key.startswith(self.uploads):
            raise InvalidKey(f"not under {self.uploads!r}: {key!r}")
        owner, slash, name = key[len(self.uploads) :].partition("/")
        prediction_id, dot, extension = name.partition(".")
        if not slash or not dot:
            raise InvalidKey(f"not an upload key ({self.uploads}<owner>/<id>.<ext>): {key!r}")
        if self.upload_key(check_owner(owner), prediction_id, extension) != key:
            raise InvalidKey(f"not an upload key ({self.uploads}<owner>/<id>.<ext>): {key!r}")
        return Upload(owner=owner, id=prediction_id, key=key)

    def upload_for(self, key: str, uploaded_at: datetime | None = None) -> Upload:
        """The upload behind any key under the uploads prefix: one named by dermascan, or
        (given its upload time) one dropped under ``<uploads><owner>/`` with a name of its own,
        such as ``my photo.jpg``, whose id derives from its key and time.

        Raises:
            InvalidKey: ``key`` is not under ``<uploads><valid owner>/``, or has a name of its
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
        return Upload(owner=check_owner(owner), id=derived_id(key, uploaded_at), key=key)
