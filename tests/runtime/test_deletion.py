"""runtime.deletion: one result and everything derived from it, or all of one owner's data,
on a data directory and on a versioned S3 bucket (moto), through the same Store API."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.cases import CaseDetails, reference_digest
from runtime.classifiers import Scores
from runtime.deletion import delete_owner, delete_result
from runtime.images import ImageLimits
from runtime.keys import KeyLayout, new_id
from runtime.local import LocalPipeline
from runtime.pipeline import process_upload, store_upload
from runtime.stores import LocalStore, S3Store, Store
from tests.fakes import FakeClassifier
from tests.runtime.test_local import GatedClassifier

LAYOUT = KeyLayout()
BUCKET = "dermascan-deletion"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield LocalStore(tmp_path / "store")
        return
    request.getfixturevalue("mocked_aws")
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield S3Store(client, BUCKET)


def every_key(store: Store) -> set[str]:
    """Every key in the store; on S3 every version and delete marker too, not just the
    visible objects."""
    if isinstance(store, S3Store):
        client: Any = store._s3
        answer = client.list_object_versions(Bucket=store.bucket)
        items = [*answer.get("Versions", []), *answer.get("DeleteMarkers", [])]
        return {item["Key"] for item in items}
    keys: set[str] = set()
    for prefix in LAYOUT.prefixes().values():
        keys |= set(store.list_keys(prefix, 1000).keys)
    return keys


def full_result(store: Store, owner: str, reference: str, sample_jpeg: bytes) -> str:
    """A result with everything a result can have: upload, case, reference entry, record,
    thumbnail, explanation and its request, two outcomes."""
    upload = store_upload(
        store,
        sample_jpeg,
        owner,
        CaseDetails(reference, "left forearm"),
        layout=LAYOUT,
        limits=ImageLimits(),
    )
    process_upload(upload.key, store=store, classifier=FakeClassifier(), layout=LAYOUT)
    png, params = LAYOUT.explanation_keys(owner, upload.id)
    store.put(png, b"\x89PNG map", "image/png")
    store.put(params, b"{}", "application/json")
    store.put(LAYOUT.explain_request_key(owner, upload.id), b"{}", "application/json")
    for _ in range(2):
        store.put(LAYOUT.outcome_key(owner, upload.id, new_id()), b"{}", "application/json")
    return upload.id


def test_deleting_a_result_deletes_everything_of_it_and_nothing_else(
    store: Store, sample_jpeg: bytes
) -> None:
    doomed = full_result(store, "alice", "P-1", sample_jpeg)
    kept = full_result(store, "alice", "P-1", sample_jpeg)  # same owner, same reference
    before = every_key(store)
    mine = {key for key in before if doomed in key}
    assert len(mine) == 10  # upload, record, thumbnail, 2 explanation, request, 2 outcomes,
    # case, reference entry

    deleted = delete_result(store, LAYOUT, "alice", doomed)

    assert set(deleted) == mine
    assert deleted[0].startswith("uploads/")  # first: nothing can classify it again
    assert every_key(store) == before - mine  # on S3: no version and no delete marker left
    assert len({key for key in every_key(store) if kept in key}) == 10
    assert delete_result(store, LAYOUT, "alice", doomed) == []  # again: nothing there


def test_deleting_an_owner_deletes_all_of_theirs_under_every_prefix_and_nobody_elses(
    store: Store, sample_jpeg: bytes
) -> None:
    for _ in range(2):
        full_result(store, "alice", "P-1", sample_jpeg)
    bobs = full_result(store, "bob", "P-1", sample_jpeg)
    bob_keys = {key for key in every_key(store) if "/bob/" in key}

    assert delete_owner(store, LAYOUT, "alice") == 20

    assert every_key(store) == bob_keys
    assert all(bobs in key or key.startswith("references/bob/") for key in bob_keys)


def test_the_reference_entry_is_found_from_the_record_when_the_case_is_gone(
    store: Store, sample_jpeg: bytes
) -> None:
    doomed = full_result(store, "alice", "P-1", sample_jpeg)
    store.delete(LAYOUT.case_key("alice", doomed))  # a deletion that stopped half-way
    marker = LAYOUT.reference_key("alice", reference_digest("P-1"), doomed)
    assert marker in delete_result(store, LAYOUT, "alice", doomed)
    assert not store.exists(marker)


def test_a_result_being_classified_when_deleted_does_not_come_back(
    tmp_path: Path, sample_jpeg: bytes
) -> None:
    """Local pipeline: the deletion waits for the worker, then deletes what it wrote; without
    that the worker would write the record after the deletion."""
    classifier = GatedClassifier()
    pipeline = LocalPipeline(LocalStore(tmp_path), classifier)
    try:
        prediction_id = pipeline.submit(sample_jpeg, "local", CaseDetails("P-9", None))
        queued = pipeline.submit(sample_jpeg, "local")  # behind it in the one worker's queue
        deleting = threading.Thread(target=pipeline.delete, args=(prediction_id, "local"))
        deleting.start()
        deleting.join(timeout=0.5)
        assert deleting.is_alive(), "the deletion did not wait for the classification"
        classifier.gate.set()
        deleting.join(timeout=30)
        pipeline.delete(queued, "local")
    finally:
        pipeline.close()
    assert every_key(pipeline.store) == set()


def test_a_queued_upload_deleted_before_it_runs_is_never_classified(
    tmp_path: Path, sample_jpeg: bytes
) -> None:
    classifier = GatedClassifier()
    pipeline = LocalPipeline(LocalStore(tmp_path), classifier)  # one worker: the second waits
    try:
        running = pipeline.submit(sample_jpeg, "local")
        queued = pipeline.submit(sample_jpeg, "local", CaseDetails("P-2", "queued"))
        assert len(pipeline.delete(queued, "local")) == 3  # upload, case, reference entry
        with pytest.raises(LookupError):
            pipeline.wait(queued, "local", timeout=5)
        classifier.gate.set()
        pipeline.wait(running, "local", timeout=30)
    finally:
        pipeline.close()
    assert len(classifier.calls) == 1  # the deleted one never reached the model
    assert not [key for key in every_key(pipeline.store) if queued in key]


class GatedBatchClassifier(GatedClassifier):
    """A batch classifier whose batches wait for the gate, as an explanation in progress."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_started = threading.Event()

    def classify_many(self, jpegs: Sequence[bytes]) -> list[Scores]:
        self.batch_started.set()
        return [self.classify(jpeg) for jpeg in jpegs]


@pytest.mark.parametrize("whole_owner", [False, True], ids=["one result", "all of mine"])
def test_an_explanation_being_computed_when_deleted_does_not_come_back(
    tmp_path: Path, sample_jpeg: bytes, whole_owner: bool
) -> None:
    """Local pipeline: the deletion waits for the explanation in the worker too; without that
    its heat map and parameters would be stored after the result was deleted."""
    classifier = GatedBatchClassifier()
    classifier.gate.set()
    pipeline = LocalPipeline(LocalStore(tmp_path), classifier)
    try:
        prediction_id = pipeline.submit(sample_jpeg, "local")
        pipeline.wait(prediction_id, "local", timeout=30)
        classifier.gate.clear()
        explaining = pipeline.request_explanation("local", prediction_id)
        assert classifier.batch_started.wait(timeout=30)  # the worker is inside the batch
        if whole_owner:
            deleting = threading.Thread(target=pipeline.delete_owner, args=("local",))
        else:
            deleting = threading.Thread(target=pipeline.delete, args=(prediction_id, "local"))
        deleting.start()
        deleting.join(timeout=0.5)
        assert deleting.is_alive(), "the deletion did not wait for the explanation"
        classifier.gate.set()
        deleting.join(timeout=30)
        explaining.result(timeout=30)
    finally:
        pipeline.close()
    assert every_key(pipeline.store) == set()
