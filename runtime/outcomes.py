"""Confirmed outcomes: what a lesion turned out to be, recorded by a clinician beside a result.

An outcome never edits the prediction record. Each one is its own object, under a fresh id that
sorts newest first, so a correction is a new outcome: the latest wins and the history is kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from runtime.keys import InvalidKey, check_id, check_owner
from runtime.labels import CLASSES, MALIGNANT
from runtime.records import Prediction

OTHER: Final = "other"
"""A confirmed diagnosis outside the seven classes (a squamous cell carcinoma, a scar, ...)."""
DIAGNOSES: Final = (*CLASSES, OTHER)
METHODS: Final = ("histopathology", "follow-up", "expert consensus", "in-vivo confocal")
"""How a diagnosis was confirmed: HAM10000's own kinds of ground truth."""
OUTCOME_VERSION: Final = 1


class InvalidOutcome(ValueError):
    """An outcome that breaks the contract; the message says which field and why."""


@dataclass(frozen=True)
class ConfirmedOutcome:
    """One confirmed diagnosis of one result."""

    prediction_id: str
    owner: str
    diagnosis: str
    """A class code, or ``other``."""
    method: str
    """One of ``METHODS``."""
    confirmed_on: date
    recorded_at: str
    """When it was recorded, ISO 8601 in UTC."""
    version: int = field(default=OUTCOME_VERSION)

    def __post_init__(self) -> None:
        try:
            check_id(self.prediction_id)
            check_owner(self.owner)
        except InvalidKey as exc:
            raise InvalidOutcome(str(exc)) from exc
        if self.diagnosis not in DIAGNOSES:
            raise InvalidOutcome(f"diagnosis must be one of {', '.join(DIAGNOSES)}")
        if self.method not in METHODS:
            raise InvalidOutcome(f"method must be one of {', '.join(METHODS)}")
        if not isinstance(self.confirmed_on, date) or isinstance(self.confirmed_on, datetime):
            raise InvalidOutcome("confirmed_on must be a date")
        recorded = _utc(self.recorded_at)
        if self.confirmed_on > recorded.date():
            raise InvalidOutcome("a diagnosis cannot be confirmed after it was recorded")
        if self.version != OUTCOME_VERSION:
            raise InvalidOutcome(f"outcome version {self.version!r} is unknown")

    @classmethod
    def record(
        cls,
        *,
        prediction_id: str,
        owner: str,
        diagnosis: str,
        method: str,
        confirmed_on: date,
        now: datetime | None = None,
    ) -> ConfirmedOutcome:
        """A new outcome, recorded now."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        recorded_at = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return cls(prediction_id, owner, diagnosis, method, confirmed_on, recorded_at)

    @property
    def malignant(self) -> bool | None:
        """Whether the confirmed lesion is one of the malignant classes; None for ``other``,
        which may be either."""
        return None if self.diagnosis == OTHER else self.diagnosis in MALIGNANT

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "prediction_id": self.prediction_id,
                "owner": self.owner,
                "diagnosis": self.diagnosis,
                "method": self.method,
                "confirmed_on": self.confirmed_on.isoformat(),
                "recorded_at": self.recorded_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ConfirmedOutcome:
        """Read a stored outcome.

        Raises:
            InvalidOutcome: it is not an outcome this dermascan reads.
        """
        try:
            data: Any = json.loads(text)
            if not isinstance(data, Mapping):
                raise InvalidOutcome("an outcome must be a JSON object")
            return cls(
                prediction_id=data["prediction_id"],
                owner=data["owner"],
                diagnosis=data["diagnosis"],
                method=data["method"],
                confirmed_on=date.fromisoformat(data["confirmed_on"]),
                recorded_at=data["recorded_at"],
                version=data["version"],
            )
        except (ValueError, TypeError, KeyError) as exc:
            if isinstance(exc, InvalidOutcome):
                raise
            raise InvalidOutcome(f"unreadable outcome: {exc}") from exc


def agrees(outcome: ConfirmedOutcome, prediction: Prediction) -> bool | None:
    """Whether the model's top class is the confirmed diagnosis.

    None when the question has no answer: a diagnosis of ``other`` (outside the seven classes,
    so no top class can match it, and counting it as a miss would blame the model for what it
    was never taught), or a record without scores.

    Raises:
        InvalidOutcome: the outcome is about another result than ``prediction``.
    """
    if (outcome.owner, outcome.prediction_id) != (prediction.owner, prediction.id):
        raise InvalidOutcome(
            f"the outcome of {outcome.prediction_id} cannot be compared with {prediction.id}"
        )
    if outcome.diagnosis == OTHER or prediction.status != "ok" or prediction.top is None:
        return None
    return prediction.top == outcome.diagnosis


def _utc(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise InvalidOutcome(f"recorded_at must be ISO 8601, got {text!r}") from exc
    if moment.tzinfo is None or moment.utcoffset() != UTC.utcoffset(None):
        raise InvalidOutcome(f"recorded_at must be in UTC, got {text!r}")
    return moment
