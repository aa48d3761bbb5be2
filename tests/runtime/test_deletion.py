"""runtime.deletion: one result and everything derived from it, or all of one owner's data,
on a data directory and on a versioned S3 bucket (moto), through the same Store API."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from runtime.cases import CaseDetails, reference_digest
from runtime.classifiers import Scores
from runtime.deletion import SETTLE_SECONDS, delete_owner, delete_result, unfinished
from runtime.explaining import NotExplainable, explain
from runtime.images import ImageLimits
from runtime.keys import KeyLayout, Upload, new_id
from runtime.local import LocalPipeline
from runtime.pipeline import process_upload, store_upload
from runtime.remote import RemotePipeline
from runtime.stores import LocalStore, Page, S3Store, Store
from tests.fakes import FakeClassifier
from tests.runtime.test_local import GatedClassifier

LAYOUT = KeyLayout()


@pytest.fixture
def store(store: Store) -> Store:
    """The runtime tests' two stores, the bucket versioned as the stack's is: deleting must
    leave no version behind."""
    if isinstance(store, S3Store):
        client: Any = store._s3
        client.put_bucket_versioning(
            Bucket=store.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    return store


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

    assert len(delete_owner(store, LAYOUT, "alice")) == 20

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


class DeletingClassifier(FakeClassifier):
    """Runs ``deletion`` as it classifies: the owner deleting from the app while the Lambda
    function is inside the model call."""

    def __init__(self) -> None:
        super().__init__()
        self.deletion: Callable[[], object] = lambda: None

    def classify(self, jpeg: bytes) -> Scores:
        self.deletion()
        return super().classify(jpeg)

    def classify_many(self, jpegs: Sequence[bytes]) -> list[Scores]:
        self.deletion()
        return [FakeClassifier.classify(self, jpeg) for jpeg in jpegs]


def deletion(
    store: Store, owner: str, prediction_id: str, whole_owner: bool
) -> Callable[[], object]:
    if whole_owner:
        return lambda: delete_owner(store, LAYOUT, owner)
    return lambda: delete_result(store, LAYOUT, owner, prediction_id)


def new_upload(store: Store, sample_jpeg: bytes, reference: str | None = None) -> Upload:
    case = CaseDetails(reference, None)
    return store_upload(store, sample_jpeg, "alice", case, layout=LAYOUT, limits=ImageLimits())


@pytest.mark.parametrize("whole_owner", [False, True], ids=["one result", "all of mine"])
def test_the_function_stores_no_record_for_an_upload_deleted_while_it_classifies(
    store: Store, sample_jpeg: bytes, whole_owner: bool
) -> None:
    classifier = DeletingClassifier()
    upload = new_upload(store, sample_jpeg, "P-3")
    classifier.deletion = deletion(store, "alice", upload.id, whole_owner)
    record = process_upload(upload.key, store=store, classifier=classifier, layout=LAYOUT)
    assert record.status == "ok"  # classified, but the deletion came first: not stored
    # At most the model input, written before the model ran: the deletion's second look
    # removes it (the next test).
    assert every_key(store) <= {LAYOUT.thumbnail_key("alice", upload.id)}


def test_an_upload_deleted_before_the_function_reads_it_gets_no_record(
    store: Store, sample_jpeg: bytes
) -> None:
    upload = new_upload(store, sample_jpeg)
    delete_result(store, LAYOUT, "alice", upload.id)
    classifier = FakeClassifier()
    record = process_upload(upload.key, store=store, classifier=classifier, layout=LAYOUT)
    assert record.error is not None
    assert record.error.code == "upload_missing"
    assert classifier.calls == []
    assert every_key(store) == set()


class HeldWrites:
    """A store whose writes under ``held`` prefixes wait until ``release``: the function's
    writes landing just after a deletion has looked, as they can on AWS."""

    def __init__(self, store: Store, *held: str) -> None:
        self.store = store
        self.held = held
        self.writing = threading.Event()
        self.released = threading.Event()

    def _hold(self, key: str) -> None:
        if key.startswith(self.held):
            self.writing.set()
            assert self.released.wait(timeout=30), "the test never released the writes"

    def put(self, key: str, data: bytes, content_type: str, *, derived: bool = False) -> None:
        self._hold(key)
        self.store.put(key, data, content_type, derived=derived)

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        self._hold(key)
        return self.store.put_if_absent(key, data, content_type)

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        return self.store.get(key, max_bytes)

    def exists(self, key: str) -> bool:
        return self.store.exists(key)

    def delete(self, key: str) -> None:
        self.store.delete(key)

    def list_keys(self, prefix: str, limit: int, cursor: str | None = None) -> Page:
        return self.store.list_keys(prefix, limit, cursor)


@pytest.mark.parametrize("whole_owner", [False, True], ids=["one result", "all of mine"])
@pytest.mark.parametrize("work", ["thumbnail", "record", "explanation"])
def test_on_aws_what_the_function_writes_just_after_a_deletion_is_deleted_too(
    store: Store, sample_jpeg: bytes, work: str, whole_owner: bool
) -> None:
    """The function cannot be waited for: the app's deletion sees work in flight (an upload
    without a record, an explanation request without an explanation) and looks again. Each
    case holds one of the function's writes past its check, until the deletion has looked."""
    upload = new_upload(store, sample_jpeg, "P-4")
    run: Callable[..., object]
    if work in ("thumbnail", "record"):
        held = HeldWrites(store, LAYOUT.thumbnails if work == "thumbnail" else LAYOUT.predictions)
        run = partial(process_upload, upload.key, classifier=FakeClassifier(), layout=LAYOUT)
    else:
        process_upload(upload.key, store=store, classifier=FakeClassifier(), layout=LAYOUT)
        store.put(LAYOUT.explain_request_key("alice", upload.id), b"{}", "application/json")
        held = HeldWrites(store, LAYOUT.explanations)
        run = partial(
            explain,
            layout=LAYOUT,
            classifier=DeletingClassifier(),
            owner="alice",
            prediction_id=upload.id,
            grid=2,
        )
    function = threading.Thread(target=run, kwargs={"store": held})
    function.start()
    assert held.writing.wait(timeout=30)  # past its check, its write not yet landed
    waited: list[float] = []

    def settle(seconds: float) -> None:
        waited.append(seconds)
        held.released.set()
        function.join(timeout=30)  # the function finishes within the settling time

    app = RemotePipeline(store, layout=LAYOUT, settle=settle)
    if whole_owner:
        app.delete_owner("alice")
    else:
        app.delete(upload.id, "alice")
    assert waited == [SETTLE_SECONDS]
    assert every_key(store) == set()


@pytest.mark.parametrize("whole_owner", [False, True], ids=["one result", "all of mine"])
def test_the_function_stores_no_explanation_of_a_result_deleted_while_it_explains(
    store: Store, sample_jpeg: bytes, whole_owner: bool
) -> None:
    classifier = DeletingClassifier()
    upload = new_upload(store, sample_jpeg)
    process_upload(upload.key, store=store, classifier=classifier, layout=LAYOUT)
    classifier.deletion = deletion(store, "alice", upload.id, whole_owner)
    with pytest.raises(NotExplainable, match="was deleted while it was explained"):
        explain(store, LAYOUT, classifier, "alice", upload.id, grid=2)
    assert every_key(store) == set()


def test_a_deletion_that_caught_only_half_an_explanation_looks_again() -> None:
    """The map lands just after the deletion looked for it, the parameters just before they
    were looked for: only the parameters were deleted, and the map must be found later."""
    png, params = LAYOUT.explanation_keys("alice", new_id())
    request = LAYOUT.explain_request_key("alice", params.split("/")[2].removesuffix(".json"))
    assert unfinished([request, params], LAYOUT)
    assert not unfinished([request, png, params], LAYOUT)


def test_deleting_everything_looks_again_while_each_look_finds_work_in_flight(
    store: Store, sample_jpeg: bytes
) -> None:
    """On a shared history another visitor can upload while everything is being deleted: the
    second look deletes that upload, whose function then writes its model input, so a third
    look is needed. Each look ``settle`` stands for plays what happened meanwhile."""
    new_upload(store, sample_jpeg)  # being classified: no record yet
    later: list[Upload] = []
    landed: list[str] = []

    def land() -> None:
        """The later upload's function read it before the second look: its model input
        lands some seconds after, whether or not anyone looks again."""
        if later and not landed:
            landed.append(LAYOUT.thumbnail_key("alice", later[0].id))
            store.put(landed[0], sample_jpeg, "image/jpeg")

    def settle(seconds: float) -> None:
        if not later:
            later.append(new_upload(store, sample_jpeg))  # another visitor's upload
        else:
            land()

    RemotePipeline(store, layout=LAYOUT, settle=settle).delete_owner("alice")
    land()  # (a no-op if it landed while the deletion was still looking)
    assert landed
    assert every_key(store) == set()


class DeletedAfterRead(HeldWrites):
    """A store whose ``key`` is deleted (by ``deletion``) right after the function reads it:
    the owner deleting while the function prepares the image."""

    def __init__(self, store: Store, key: str, deletion: Callable[[], object]) -> None:
        super().__init__(store)
        self.key = key
        self.deletion = deletion

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        data = self.store.get(key, max_bytes)
        if key == self.key:
            self.deletion()
        return data


def test_the_function_writes_no_model_input_for_an_upload_deleted_after_it_read_it(
    store: Store, sample_jpeg: bytes
) -> None:
    upload = new_upload(store, sample_jpeg, "P-5")
    deleting = DeletedAfterRead(
        store, upload.key, lambda: delete_result(store, LAYOUT, "alice", upload.id)
    )
    process_upload(upload.key, store=deleting, classifier=FakeClassifier(), layout=LAYOUT)
    assert every_key(store) == set()
