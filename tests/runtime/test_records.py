"""runtime.records: the key layout and the prediction record contract."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.labels import CLASSES
from runtime.records import (
    SCHEMA_VERSION,
    ErrorInfo,
    ImageInfo,
    InvalidKey,
    InvalidRecord,
    KeyLayout,
    ModelInfo,
    Prediction,
    Timings,
    UnsupportedSchema,
    check_id,
    derived_id,
    id_time,
    new_id,
    owner_for_identity,
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


# --- ids, owners and keys --------------------------------------------------------------------


def test_ids_sort_newest_first() -> None:
    older, newer = new_id(WHEN), new_id(WHEN + timedelta(milliseconds=1))
    assert newer < older


@given(st.lists(st.integers(0, 10**12), min_size=2, max_size=20, unique=True))
def test_ids_sort_newest_first_for_any_times(millis: list[int]) -> None:
    times = [datetime.fromtimestamp(m / 1000, UTC) for m in millis]
    ids = [new_id(t) for t in times]
    newest_first = [i for _, i in sorted(zip(times, ids, strict=True), reverse=True)]
    assert sorted(ids) == newest_first


def test_an_id_tells_when_it_was_made() -> None:
    assert id_time(new_id(WHEN)) == WHEN
    assert id_time(derived_id("uploads/local/x.jpg", WHEN)) == WHEN


def test_ids_of_the_same_millisecond_are_unique() -> None:
    assert len({new_id(WHEN) for _ in range(1000)}) == 1000


def test_ids_made_in_quick_succession_sort_in_the_order_made() -> None:
    made = [new_id() for _ in range(2000)]  # many per millisecond
    assert sorted(made, reverse=True) == made


def test_ids_made_by_many_threads_are_unique_and_ordered_per_thread() -> None:
    per_thread: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(new_id() for _ in range(500))

    threads = [threading.Thread(target=make, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({i for made in per_thread for i in made}) == 2000
    assert all(sorted(made, reverse=True) == made for made in per_thread)


def test_check_id_refuses_anything_else() -> None:
    prediction_id = new_id(WHEN)
    assert check_id(prediction_id) == prediction_id
    for bad in ["", "../etc/passwd", "x" * 23, new_id(WHEN) + "0", new_id(WHEN).upper() + "G"]:
        with pytest.raises(InvalidKey):
            check_id(bad)


def test_keys_carry_owner_and_id_but_no_file_name() -> None:
    layout = KeyLayout()
    prediction_id = new_id(WHEN)
    assert layout.upload_key("local", prediction_id, "jpg") == f"uploads/local/{prediction_id}.jpg"
    assert (
        layout.prediction_key("local", prediction_id) == f"predictions/local/{prediction_id}.json"
    )
    assert layout.thumbnail_key("local", prediction_id) == f"thumbnails/local/{prediction_id}.jpg"


def test_upload_keys_parse_back_to_their_parts() -> None:
    layout = KeyLayout()
    prediction_id = new_id(WHEN)
    ref = layout.parse_upload_key(f"uploads/u-abc/{prediction_id}.webp")
    assert (ref.owner, ref.id, ref.extension) == ("u-abc", prediction_id, "webp")


@pytest.mark.parametrize(
    "key",
    [
        "predictions/local/{id}.json",
        "uploads/{id}.jpg",
        "uploads/local/{id}",
        "uploads/Local/{id}.jpg",
        "uploads/local/my photo.jpg",
        "uploads/local/../{id}.jpg",
        "uploads/local/sub/{id}.jpg",
        "uploads/local/{id}.jpg.exe",
    ],
)
def test_keys_outside_the_layout_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        KeyLayout().parse_upload_key(key.format(id=new_id(WHEN)))


def test_prefixes_must_not_nest_so_results_never_trigger_processing() -> None:
    with pytest.raises(ValueError, match="must not nest"):
        KeyLayout(uploads="data/", predictions="data/results/")
    with pytest.raises(ValueError, match="look like"):
        KeyLayout(uploads="uploads")


def test_owners_for_identities_are_opaque_stable_slugs() -> None:
    owner = owner_for_identity("jane.doe@clinic.example")
    assert owner == owner_for_identity("jane.doe@clinic.example")
    assert owner != owner_for_identity("john@clinic.example")
    assert "jane" not in owner
    assert KeyLayout().owner_uploads(owner) == f"uploads/{owner}/"


@pytest.mark.parametrize("owner", ["", "Local", "a/b", "..", "-x", "a" * 64, "ü"])
def test_unsafe_owners_are_refused(owner: str) -> None:
    with pytest.raises(InvalidKey):
        KeyLayout().owner_uploads(owner)


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
    ]
    assert data["schema_version"] == SCHEMA_VERSION
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


def test_a_record_of_another_schema_version_gives_a_clear_error() -> None:
    data = ok_record().to_dict()
    data["schema_version"] = 2
    with pytest.raises(UnsupportedSchema, match=r"schema_version 2.*reads version 1"):
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
