"""runtime.timeline and the upload's case details: a reference's results found through its
index alone, oldest first, with each score's change in points."""

from __future__ import annotations

import pytest

from runtime.cases import CaseDetails, InvalidCase, reference_digest
from runtime.images import ImageLimits
from runtime.keys import KeyLayout
from runtime.labels import CLASSES
from runtime.pipeline import process_upload, store_upload
from runtime.results import Results
from runtime.stores import Page
from runtime.timeline import results_for_reference, timeline
from runtime.triage import TriageRule
from tests.fakes import FakeClassifier, MemoryStore, scores_with_top

LAYOUT = KeyLayout()


class RecordingStore(MemoryStore):
    """Remembers the order of writes and which prefixes were listed and keys read."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.reads: list[str] = []
        self.listed: list[str] = []

    def put(self, key: str, data: bytes, content_type: str, *, derived: bool = False) -> None:
        self.writes.append(key)
        super().put(key, data, content_type, derived=derived)

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        self.reads.append(key)
        return super().get(key, max_bytes)

    def list_keys(self, prefix: str, limit: int, cursor: str | None = None) -> Page:
        self.listed.append(prefix)
        return super().list_keys(prefix, limit, cursor)


def test_case_details_and_the_reference_entry_are_written_before_the_upload() -> None:
    store = RecordingStore()
    upload = store_upload(
        store,
        b"\xff\xd8\xff jpeg",
        "alice",
        CaseDetails("P-1042/L2", "left arm"),
        layout=LAYOUT,
        limits=ImageLimits(),
    )
    assert store.writes == [
        LAYOUT.case_key("alice", upload.id),
        LAYOUT.reference_key("alice", reference_digest("p-1042/l2"), upload.id),
        upload.key,
    ]
    assert CaseDetails.from_json(store.objects[store.writes[0]]) == CaseDetails(
        "P-1042/L2", "left arm"
    )
    plain = store_upload(store, b"\xff\xd8\xff", "alice", None, layout=LAYOUT, limits=ImageLimits())
    assert store.writes[-1] == plain.key
    assert len(store.writes) == 4


def test_the_record_carries_the_reference_and_note_given_with_the_upload(
    sample_jpeg: bytes,
) -> None:
    store = RecordingStore()
    upload = store_upload(
        store,
        sample_jpeg,
        "alice",
        CaseDetails("P-7", "<b>x</b>"),
        layout=LAYOUT,
        limits=ImageLimits(),
    )
    record = process_upload(upload.key, store=store, classifier=FakeClassifier(), layout=LAYOUT)
    assert (record.reference, record.note) == ("P-7", "<b>x</b>")


def test_a_reference_reads_only_its_own_entries_and_records_oldest_first(
    sample_jpeg: bytes,
) -> None:
    store = RecordingStore()
    ids = []
    for top in ("nv", "mel", "bcc"):
        upload = store_upload(
            store,
            sample_jpeg,
            "alice",
            CaseDetails("P-1", None),
            layout=LAYOUT,
            limits=ImageLimits(),
        )
        process_upload(
            upload.key,
            store=store,
            classifier=FakeClassifier(scores_with_top(top, 0.6)),
            layout=LAYOUT,
        )
        ids.append(upload.id)
    others = []
    for reference, owner in (("P-2", "alice"), (None, "alice"), ("P-1", "bob")):
        upload = store_upload(
            store,
            sample_jpeg,
            owner,
            CaseDetails(reference, None) if reference else None,
            layout=LAYOUT,
            limits=ImageLimits(),
        )
        process_upload(upload.key, store=store, classifier=FakeClassifier(), layout=LAYOUT)
        others.append(upload.id)
    store.reads.clear()
    store.listed.clear()

    found = results_for_reference(Results(store, LAYOUT), "alice", " p-1 ")

    assert [record.id for record in found] == ids  # made oldest first, shown oldest first
    assert store.listed == [LAYOUT.reference_prefix("alice", reference_digest("P-1"))]
    assert sorted(store.reads) == sorted(LAYOUT.prediction_key("alice", i) for i in ids)
    with pytest.raises(InvalidCase):
        results_for_reference(Results(store, LAYOUT), "alice", "not a reference!")


def test_the_timeline_gives_each_scores_change_since_the_previous_result(
    sample_jpeg: bytes,
) -> None:
    store = RecordingStore()
    for top in ("nv", "mel"):
        upload = store_upload(
            store,
            sample_jpeg,
            "alice",
            CaseDetails("P-1", None),
            layout=LAYOUT,
            limits=ImageLimits(),
        )
        process_upload(
            upload.key,
            store=store,
            classifier=FakeClassifier(scores_with_top(top, 0.6)),
            layout=LAYOUT,
        )
    first, second = timeline(
        results_for_reference(Results(store, LAYOUT), "alice", "P-1"), TriageRule()
    )
    assert first.changes is None
    assert first.malignant_change is None
    assert second.changes is not None
    assert second.changes["mel"] == pytest.approx(60 - 40 / 6)
    assert second.changes["nv"] == pytest.approx(40 / 6 - 60)
    assert set(second.changes) == set(CLASSES)
    assert second.malignant_change == pytest.approx(second.changes["mel"])
    assert second.triage is not None
    assert second.triage.level.needs_clinician
