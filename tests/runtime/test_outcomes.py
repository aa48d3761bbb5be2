"""runtime.outcomes: a confirmed diagnosis is its own validated object, never an edited record."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from runtime.keys import new_id
from runtime.outcomes import DIAGNOSES, METHODS, ConfirmedOutcome, InvalidOutcome, agrees
from runtime.records import ImageInfo, Prediction, Timings
from tests.fakes import FAKE_MODEL, scores_with_top

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def outcome(**changes: object) -> ConfirmedOutcome:
    fields: dict[str, object] = {
        "prediction_id": new_id(NOW),
        "owner": "local",
        "diagnosis": "mel",
        "method": "histopathology",
        "confirmed_on": date(2026, 11, 20),
        "now": NOW,
    }
    fields.update(changes)
    return ConfirmedOutcome.record(**fields)  # type: ignore[arg-type]


def test_an_outcome_round_trips_through_json() -> None:
    made = outcome()
    assert ConfirmedOutcome.from_json(made.to_json()) == made
    assert made.recorded_at == "2026-11-29T10:00:00.000Z"
    assert made.malignant is True
    assert outcome(diagnosis="nv").malignant is False
    assert outcome(diagnosis="other").malignant is None  # could be either


def test_the_choices_are_the_seven_classes_or_other_and_the_four_methods() -> None:
    assert DIAGNOSES == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc", "other")
    assert METHODS == ("histopathology", "follow-up", "expert consensus", "in-vivo confocal")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"diagnosis": "melanoma"}, "diagnosis must be one of"),
        ({"method": "guess"}, "method must be one of"),
        ({"confirmed_on": date(2026, 12, 1)}, "after it was recorded"),
        ({"prediction_id": "../x"}, "not a prediction id"),
        ({"owner": "Bad Owner"}, "not a valid owner"),
    ],
)
def test_a_wrong_outcome_is_refused_naming_the_field(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidOutcome, match=message):
        outcome(**changes)


@pytest.mark.parametrize(
    "text", [b"", b"[]", b'{"version": 2}', b'{"version": 1, "diagnosis": "mel"}']
)
def test_unreadable_outcomes_are_refused(text: bytes) -> None:
    with pytest.raises(InvalidOutcome):
        ConfirmedOutcome.from_json(text)


def record_with_top(prediction_id: str, top: str) -> Prediction:
    return Prediction.ok(
        id=prediction_id,
        owner="local",
        upload_key=f"uploads/local/{prediction_id}.jpg",
        scores=scores_with_top(top),
        model=FAKE_MODEL,
        image=ImageInfo(sha256="0" * 64, bytes=1),
        timings_ms=Timings(preprocess=1.0, inference=1.0, total=2.0),
        created_at=NOW,
    )


def test_agreement_is_the_top_class_being_the_diagnosis_and_undefined_for_other() -> None:
    confirmed = outcome(diagnosis="mel")
    assert agrees(confirmed, record_with_top(confirmed.prediction_id, "mel")) is True
    assert agrees(confirmed, record_with_top(confirmed.prediction_id, "nv")) is False
    other = outcome(diagnosis="other", prediction_id=confirmed.prediction_id)
    assert agrees(other, record_with_top(confirmed.prediction_id, "mel")) is None
    with pytest.raises(InvalidOutcome, match="cannot be compared"):
        agrees(confirmed, record_with_top(new_id(NOW), "mel"))
