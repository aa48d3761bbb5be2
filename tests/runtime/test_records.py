"""runtime.records: the prediction record contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from runtime.cases import CaseDetails
from runtime.keys import (
    new_id,
)
from runtime.labels import CLASSES
from runtime.records import (
    SCHEMA_VERSION,
    ErrorInfo,
    ImageInfo,
    InvalidRecord,
    ModelInfo,
    Prediction,
    Timings,
    UnsupportedSchema,
)
from tests.fakes import scores_with_top

MODEL = ModelInfo(id="Anwarkh1/Skin_Cancer-Image_Classification", revision="abc", backend="x")
IMAGE = ImageInfo(sha256="0" * 64, bytes=1234, width=600, height=450, format="JPEG")
TIMINGS = Timings(preprocess=1.5, inference=20.0, total=22.0)
WHEN = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def ok_record(**changes: object) -> Prediction:
    fields: dict[str, object] = {
        "id": new_id(WHEN),
        "owner": "local",
        "upload_key": "uploads/local/x.jpg",
        "scores": scores_with_top("mel"),
        "model": MODEL,
        "image": IMAGE,
        "timings_ms": TIMINGS,
        "created_at": WHEN,
    }
    fields.update(changes)
    return Prediction.ok(**fields)  # type: ignore[arg-type]


# --- the record ------------------------------------------------------------------------------


def test_an_ok_record_round_trips_through_json() -> None:
    record = ok_record()
    loaded = Prediction.from_json(record.to_json())
    assert loaded == record
    data = json.loads(record.to_json())
    assert list(data) == [
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
        "reference",
        "note",
    ]
    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert (data["reference"], data["note"]) == (None, None)
    assert list(data["scores"]) == list(CLASSES)
    assert data["top"] == "mel"
    assert data["error"] is None
    assert data["created_at"] == "2026-11-26T12:00:00.000Z"
    assert data["model"] == {
        "id": MODEL.id,
        "revision": "abc",
        "backend": "x",
        "endpoint": None,
    }


def test_an_error_record_round_trips_and_has_no_scores() -> None:
    record = Prediction.failed(
        id=new_id(WHEN),
        owner="local",
        upload_key="uploads/local/x.bin",
        error=ErrorInfo(code="not_an_image", message="This file is not an image."),
        model=MODEL,
        image=None,
        timings_ms=TIMINGS,
        created_at=WHEN,
    )
    assert Prediction.from_json(record.to_json()) == record
    assert (record.status, dict(record.scores), record.top, record.ranked()) == (
        "error",
        {},
        None,
        [],
    )


def test_ranked_lists_all_seven_highest_first() -> None:
    ranked = ok_record().ranked()
    assert ranked[0][0] == "mel"
    assert [score for _, score in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert len(ranked) == 7


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (dict.fromkeys(CLASSES[:5], 1 / 5), "exactly"),
        ({**scores_with_top("nv"), "extra": 0.0}, "exactly"),
        ({**scores_with_top("nv"), "nv": 0.9}, "sum to 1"),
        ({**scores_with_top("nv"), "nv": float("nan")}, r"within \[0, 1\]"),
        ({**scores_with_top("nv"), "mel": -0.01}, r"within \[0, 1\]"),
    ],
    ids=["five-classes", "extra-class", "sum", "nan", "negative"],
)
def test_ok_records_need_all_seven_scores_summing_to_one(
    scores: dict[str, float], message: str
) -> None:
    with pytest.raises(InvalidRecord, match=message):
        ok_record(scores=scores)


def test_the_sum_may_be_off_by_float_rounding_only() -> None:
    scores = scores_with_top("nv")
    scores["nv"] += 0.0009
    assert ok_record(scores=scores).top == "nv"


def test_records_must_be_in_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ok_record(created_at=datetime(2026, 1, 1))
    data = ok_record().to_dict()
    data["created_at"] = "2026-11-26T12:00:00+01:00"
    with pytest.raises(InvalidRecord, match="UTC"):
        Prediction.from_dict(data)


def test_a_record_of_a_newer_schema_version_gives_a_clear_error() -> None:
    data = ok_record().to_dict()
    data["schema_version"] = 3
    with pytest.raises(UnsupportedSchema, match=r"schema_version 3.*reads versions 1 to 2"):
        Prediction.from_json(json.dumps(data))


def test_a_version_1_record_is_read_as_one_without_case_details() -> None:
    """The schema policy: an older record stays readable; what it could not hold is None."""
    data = ok_record().to_dict()
    del data["reference"], data["note"]
    data["schema_version"] = 1
    old = Prediction.from_json(json.dumps(data))
    assert (old.reference, old.note) == (None, None)
    assert old.scores == ok_record().scores
    data["reference"] = "P-1"  # a version 1 record with a field of version 2 is not one
    with pytest.raises(InvalidRecord, match="extra"):
        Prediction.from_json(json.dumps(data))


def test_case_details_go_into_the_record_under_the_rules_they_were_given_by() -> None:
    record = ok_record(case=CaseDetails("P-1042/L2", "left forearm"))
    assert Prediction.from_json(record.to_json()) == record
    assert (record.reference, record.note) == ("P-1042/L2", "left forearm")
    data = record.to_dict() | {"reference": "[click](https://evil.example)"}
    with pytest.raises(InvalidRecord, match="case details"):
        Prediction.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("top"), "missing"),
        (lambda d: d.update(patient="Jane"), "extra"),
        (lambda d: d.update(status="pending"), "status"),
        (lambda d: d.update(top="nv"), "top must be"),
        (lambda d: d.update(model={"id": "x"}), "malformed"),
        (lambda d: d.update(error={"code": "x", "message": "y"}), "no error"),
    ],
    ids=["missing-field", "extra-field", "status", "wrong-top", "bad-model", "ok-with-error"],
)
def test_broken_records_are_refused_on_load(change: object, message: str) -> None:
    data = ok_record().to_dict()
    change(data)  # type: ignore[operator]
    with pytest.raises(InvalidRecord, match=message):
        Prediction.from_dict(data)


def test_garbage_is_not_a_record() -> None:
    with pytest.raises(InvalidRecord, match="not valid JSON"):
        Prediction.from_json(b"\xff\xfe")
    with pytest.raises(InvalidRecord, match="JSON object"):
        Prediction.from_json("[1, 2]")
