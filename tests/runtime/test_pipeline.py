"""runtime.pipeline.process_upload: at most one record per upload, nothing lost, errors sorted."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from runtime.cases import CaseDetails
from runtime.classifiers import ClassifierError, TransientError
from runtime.images import ImageLimits
from runtime.keys import InvalidKey, KeyLayout, new_id
from runtime.pipeline import ConcurrentWrite, process_upload
from runtime.records import Prediction, UnreadableRecord
from runtime.stores import LocalStore
from tests.fakes import FAKE_MODEL, FakeClassifier, scores_with_top

LAYOUT = KeyLayout()
WHEN = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def clock() -> datetime:
    return WHEN


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path)


@pytest.fixture
def classifier() -> FakeClassifier:
    return FakeClassifier(scores_with_top("mel", 0.6))


def upload(store: LocalStore, data: bytes, owner: str = "local", ext: str = "jpg") -> str:
    key = LAYOUT.upload_key(owner, new_id(WHEN), ext)
    store.put(key, data, "image/jpeg")
    return key


def test_an_upload_becomes_a_stored_ok_record_and_thumbnail(
    store: LocalStore, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    key = upload(store, sample_jpeg)
    record = process_upload(key, store=store, classifier=classifier, clock=clock)

    ref = LAYOUT.parse_upload_key(key)
    assert record.status == "ok"
    assert (record.id, record.owner, record.upload_key) == (ref.id, "local", key)
    assert record.top == "mel"
    assert record.model == FAKE_MODEL
    assert record.image is not None
    assert (record.image.width, record.image.height, record.image.format) == (600, 450, "JPEG")
    assert record.created_at == "2026-11-26T09:30:00.000Z"
    timings = record.timings_ms
    assert timings.total >= timings.preprocess + timings.inference - 0.002  # rounded to 1 µs
    stored = Prediction.from_json(store.get(LAYOUT.prediction_key("local", ref.id)))
    assert stored == record
    thumbnail = Image.open(io.BytesIO(store.get(LAYOUT.thumbnail_key("local", ref.id))))
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (224, 224))
    assert classifier.calls == [store.get(LAYOUT.thumbnail_key("local", ref.id))]


def test_the_same_upload_twice_is_classified_once(
    store: LocalStore, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    key = upload(store, sample_jpeg)
    new: list[Prediction] = []
    first = process_upload(key, store=store, classifier=classifier, on_new=new.append)
    second = process_upload(key, store=store, classifier=classifier, on_new=new.append)
    assert first == second
    assert len(classifier.calls) == 1
    assert new == [first]


def test_a_bad_image_gets_an_error_record_and_no_model_call(
    store: LocalStore, classifier: FakeClassifier
) -> None:
    key = upload(store, b"these are my notes, not a photo", ext="bin")
    record = process_upload(key, store=store, classifier=classifier)
    assert record.status == "error"
    assert record.error is not None
    assert record.error.code == "not_an_image"
    assert "not an image" in record.error.message
    assert record.image is not None
    assert record.image.bytes == 31
    assert classifier.calls == []
    assert store.exists(LAYOUT.prediction_key("local", record.id))
    assert not store.exists(LAYOUT.thumbnail_key("local", record.id))


def test_an_upload_over_the_limit_is_refused_without_reading_it(
    store: LocalStore, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    key = upload(store, sample_jpeg)
    limits = ImageLimits(max_bytes=1000)
    record = process_upload(key, store=store, classifier=classifier, limits=limits)
    assert record.error is not None
    assert record.error.code == "too_large"
    assert record.error.message == "The file is 145.0 KB; the limit is 1,000 bytes."
    assert classifier.calls == []


def test_a_deleted_upload_gets_no_record(store: LocalStore, classifier: FakeClassifier) -> None:
    key = LAYOUT.upload_key("local", new_id(WHEN), "jpg")  # never stored, or deleted since
    record = process_upload(key, store=store, classifier=classifier)
    assert record.error is not None
    assert record.error.code == "upload_missing"  # said to the caller, never stored: a
    assert not store.exists(LAYOUT.prediction_key("local", record.id))  # deletion is final


def test_a_transient_failure_raises_and_writes_nothing_so_a_retry_succeeds(
    store: LocalStore, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    key = upload(store, sample_jpeg)
    prediction_id = LAYOUT.parse_upload_key(key).id
    classifier.errors = [TransientError("ThrottlingException: slow down")]
    with pytest.raises(TransientError):
        process_upload(key, store=store, classifier=classifier)
    assert not store.exists(LAYOUT.prediction_key("local", prediction_id))

    record = process_upload(key, store=store, classifier=classifier)
    assert record.status == "ok"
    assert len(classifier.calls) == 2


def test_a_misconfigured_model_raises_instead_of_blaming_the_image(
    store: LocalStore, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    key = upload(store, sample_jpeg)
    classifier.errors = [ClassifierError("the model answered 5 of 7 classes")]
    with pytest.raises(ClassifierError, match="5 of 7"):
        process_upload(key, store=store, classifier=classifier)
    assert not store.exists(LAYOUT.prediction_key("local", LAYOUT.parse_upload_key(key).id))


class LosingStore(LocalStore):
    """A store where another worker writes the record just before this one does."""

    def __init__(self, root: Path, winner: Prediction) -> None:
        super().__init__(root)
        self.winner = winner

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        if key.startswith("predictions/"):
            super().put_if_absent(key, self.winner.to_json().encode(), content_type)
        return super().put_if_absent(key, data, content_type)


def test_when_two_workers_race_the_first_record_stands(
    tmp_path: Path, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    scratch = LocalStore(tmp_path / "scratch")
    key = upload(scratch, sample_jpeg)
    winner = process_upload(key, store=scratch, classifier=FakeClassifier(scores_with_top("nv")))

    store = LosingStore(tmp_path / "store", winner)
    store.put(key, sample_jpeg, "image/jpeg")
    new: list[Prediction] = []
    record = process_upload(key, store=store, classifier=classifier, on_new=new.append)
    assert record == winner
    assert new == []  # this run wrote nothing, so it counts nothing


def test_an_unreadable_existing_record_is_a_permanent_fault_left_as_it_is(
    store: LocalStore, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    key = upload(store, sample_jpeg)
    prediction_key = LAYOUT.prediction_key("local", LAYOUT.parse_upload_key(key).id)
    newer = b'{"schema_version": 99, "id": "from a newer dermascan"}'
    store.put(prediction_key, newer, "application/json")
    with pytest.raises(UnreadableRecord, match="schema_version 99") as failed:
        process_upload(key, store=store, classifier=classifier)
    assert failed.value.key == prediction_key
    assert classifier.calls == []  # not classified again, and not overwritten
    assert store.get(prediction_key) == newer


class InFlightStore(LocalStore):
    """A store where another worker's write of the record is in flight and not readable yet:
    S3's 409 ConditionalRequestConflict, which ``S3Store.put_if_absent`` reports as False."""

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        if key.startswith("predictions/"):
            return False
        return super().put_if_absent(key, data, content_type)


def test_a_record_write_in_flight_elsewhere_is_retried_not_acknowledged(
    tmp_path: Path, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    store = InFlightStore(tmp_path)
    key = upload(store, sample_jpeg)
    new: list[Prediction] = []
    with pytest.raises(ConcurrentWrite):
        process_upload(key, store=store, classifier=classifier, on_new=new.append)
    assert new == []
    # The other write failed after all: the retry finds no record and writes its own.
    retried = process_upload(key, store=LocalStore(tmp_path), classifier=classifier)
    assert retried.status == "ok"


@pytest.mark.parametrize(
    "key", ["predictions/local/x.json", "uploads/local/photo of my arm.jpg", "uploads/x.jpg"]
)
def test_keys_that_are_not_uploads_are_refused(
    store: LocalStore, classifier: FakeClassifier, key: str
) -> None:
    with pytest.raises(InvalidKey):
        process_upload(key, store=store, classifier=classifier)


def test_the_thumbnail_is_stored_as_derived_and_the_record_durably(
    tmp_path: Path, sample_jpeg: bytes
) -> None:
    """A crash may lose a thumbnail (it is the upload, prepared again), never a record."""
    calls: list[tuple[str, bool]] = []

    class Recording(LocalStore):
        def put(self, key: str, data: bytes, content_type: str, *, derived: bool = False) -> None:
            calls.append((key.split("/")[0], derived))
            super().put(key, data, content_type, derived=derived)

        def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
            calls.append((key.split("/")[0], False))
            return super().put_if_absent(key, data, content_type)

    store = Recording(tmp_path)
    key = LAYOUT.upload_key("local", new_id(WHEN), "jpg")
    store.put(key, sample_jpeg, "image/jpeg")
    process_upload(key, store=store, classifier=FakeClassifier())
    assert calls == [("uploads", False), ("thumbnails", True), ("predictions", False)]


def test_the_case_details_given_with_an_upload_go_into_its_record(
    store: LocalStore, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    key = upload(store, sample_jpeg)
    given = LAYOUT.upload_for(key)
    store.put(
        LAYOUT.case_key(given.owner, given.id),
        CaseDetails("P-1042/L2", "left forearm, 4 mm").to_json().encode(),
        "application/json",
    )
    record = process_upload(key, store=store, classifier=classifier)
    assert (record.reference, record.note) == ("P-1042/L2", "left forearm, 4 mm")
    assert Prediction.from_json(store.get(LAYOUT.prediction_key("local", given.id))) == record


def test_unreadable_case_details_do_not_hold_up_the_result(
    store: LocalStore, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    key = upload(store, sample_jpeg)
    given = LAYOUT.upload_for(key)
    store.put(LAYOUT.case_key(given.owner, given.id), b'{"reference": "<b>"}', "x")
    record = process_upload(key, store=store, classifier=classifier)
    assert record.status == "ok"
    assert (record.reference, record.note) == (None, None)
