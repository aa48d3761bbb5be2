"""runtime.local.LocalPipeline: submit, wait, history and recovery on one machine."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from runtime.classifiers import ClassifierError, Scores, TransformersClassifier
from runtime.explaining import NotExplainable
from runtime.images import InvalidImage
from runtime.keys import InvalidKey, KeyLayout, new_id
from runtime.labels import CLASSES
from runtime.local import LocalPipeline
from runtime.records import ModelInfo
from runtime.settings import ConfigError, LocalSettings
from runtime.stores import LocalStore
from runtime.submission import ResultTimeout
from tests.fakes import FakeClassifier, QuadrantClassifier, two_lesions

LAYOUT = KeyLayout()


@pytest.fixture
def classifier() -> FakeClassifier:
    return FakeClassifier()


@pytest.fixture
def pipeline(tmp_path: Path, classifier: FakeClassifier) -> Iterator[LocalPipeline]:
    local = LocalPipeline(LocalStore(tmp_path), classifier, workers=2)
    yield local
    local.close()


class GatedClassifier(FakeClassifier):
    """Holds every classification until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def classify(self, jpeg: bytes) -> Scores:
        assert self.gate.wait(timeout=30), "the test never opened the gate"
        return super().classify(jpeg)


def test_a_submitted_sample_is_classified_by_the_local_model(
    tmp_path: Path, tiny_model_dir: Path, sample_jpeg: bytes
) -> None:
    local = LocalPipeline(LocalStore(tmp_path), TransformersClassifier(str(tiny_model_dir)))
    try:
        prediction_id = local.submit(sample_jpeg)
        record = local.wait(prediction_id, timeout=60)
    finally:
        local.close()
    assert record.id == prediction_id
    assert record.status == "ok"
    assert list(record.scores) == list(CLASSES)
    assert sum(record.scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert record.model.backend == "transformers"
    assert local.result(prediction_id) == record


def test_uploads_are_stored_under_an_opaque_id_with_the_sniffed_extension(
    pipeline: LocalPipeline, sample_jpeg: bytes
) -> None:
    prediction_id = pipeline.submit(sample_jpeg)
    assert pipeline.store.get(f"uploads/local/{prediction_id}.jpg") == sample_jpeg
    pipeline.wait(prediction_id)


def test_a_text_file_gets_an_error_record_with_the_reason(pipeline: LocalPipeline) -> None:
    record = pipeline.wait(pipeline.submit(b"just some text, renamed to photo.jpg"))
    assert record.status == "error"
    assert record.error is not None
    assert "not an image" in record.error.message
    assert record.upload_key.endswith(".bin")


@pytest.mark.parametrize(
    ("data", "code"), [(b"", "empty"), (b"\xff\xd8\xff" + bytes(10 * 2**20), "too_large")]
)
def test_empty_and_oversized_files_are_refused_before_storing(
    pipeline: LocalPipeline, data: bytes, code: str
) -> None:
    with pytest.raises(InvalidImage) as refused:
        pipeline.submit(data)
    assert refused.value.code == code
    assert pipeline.store.list_keys("uploads/", 10).keys == ()


def test_history_is_newest_first_and_paged(pipeline: LocalPipeline, sample_jpeg: bytes) -> None:
    ids = [pipeline.submit(sample_jpeg) for _ in range(5)]
    for prediction_id in ids:
        pipeline.wait(prediction_id)
    first = pipeline.history(limit=2)
    second = pipeline.history(limit=2, cursor=first.next_cursor)
    third = pipeline.history(limit=2, cursor=second.next_cursor)
    listed = [e.id for page in (first, second, third) for e in page.entries]
    assert listed == list(reversed(ids))
    assert third.next_cursor is None
    assert all(e.status == "ok" and e.prediction is not None for e in first.entries)


def test_history_shows_pending_uploads(tmp_path: Path, sample_jpeg: bytes) -> None:
    gated = GatedClassifier()
    local = LocalPipeline(LocalStore(tmp_path), gated)
    try:
        prediction_id = local.submit(sample_jpeg)
        (entry,) = local.history().entries
        assert (entry.id, entry.status, entry.prediction) == (prediction_id, "pending", None)
        assert local.result(prediction_id) is None
        with pytest.raises(ResultTimeout):
            local.wait(prediction_id, timeout=0.05)
        gated.gate.set()
        assert local.wait(prediction_id).status == "ok"
        assert local.history().entries[0].status == "ok"
    finally:
        gated.gate.set()
        local.close()


def test_a_model_failure_surfaces_and_leaves_the_upload_pending_for_a_retry(
    pipeline: LocalPipeline, classifier: FakeClassifier, sample_jpeg: bytes
) -> None:
    classifier.errors = [ClassifierError("model exploded")]
    prediction_id = pipeline.submit(sample_jpeg)
    with pytest.raises(ClassifierError, match="model exploded"):
        pipeline.wait(prediction_id)
    assert pipeline.history().entries[0].status == "pending"

    assert pipeline.resume_pending() == [prediction_id]
    assert pipeline.wait(prediction_id).status == "ok"


def test_uploads_left_by_a_stopped_process_are_resumed(
    pipeline: LocalPipeline, sample_jpeg: bytes
) -> None:
    orphan = new_id()
    pipeline.store.put(LAYOUT.upload_key("local", orphan, "jpg"), sample_jpeg, "image/jpeg")
    done = pipeline.submit(sample_jpeg)
    pipeline.wait(done)

    assert pipeline.resume_pending() == [orphan]
    assert pipeline.wait(orphan).status == "ok"
    assert pipeline.resume_pending() == []


def test_an_unknown_id_is_reported_as_such(pipeline: LocalPipeline) -> None:
    with pytest.raises(LookupError, match="no upload"):
        pipeline.wait(new_id())
    assert pipeline.result(new_id()) is None


def local_from_env(env: dict[str, str]) -> LocalPipeline:
    return LocalPipeline.from_settings(LocalSettings.from_env(env))


def test_configuration_from_the_environment(tmp_path: Path) -> None:
    local = local_from_env(
        {"DERMASCAN_DATA_DIR": str(tmp_path / "data"), "DERMASCAN_MODEL": str(tmp_path)}
    )
    try:
        assert local.store.root == (tmp_path / "data").resolve()
        assert local.classifier.model == ModelInfo(
            id=str(tmp_path), revision=None, backend="transformers"
        )
    finally:
        local.close()
    with pytest.raises(ConfigError, match="DERMASCAN_WORKERS"):
        local_from_env({"DERMASCAN_WORKERS": "0"})


def test_several_workers_share_the_cores_instead_of_oversubscribing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    local = local_from_env({"DERMASCAN_DATA_DIR": str(tmp_path), "DERMASCAN_WORKERS": "4"})
    try:
        assert isinstance(local.classifier, TransformersClassifier)
        assert local.classifier._threads == 2
    finally:
        local.close()
    single = local_from_env({"DERMASCAN_DATA_DIR": str(tmp_path)})
    try:
        assert isinstance(single.classifier, TransformersClassifier)
        assert single.classifier._threads is None  # one worker: torch uses every core
    finally:
        single.close()


# --- explanations ------------------------------------------------------------------------------


class GatedQuadrant(QuadrantClassifier):
    """``QuadrantClassifier`` whose batches wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def classify_many(self, jpegs: Sequence[bytes]) -> list[Scores]:
        if len(jpegs) > 1:
            assert self.gate.wait(timeout=30), "the test never opened the gate"
        return super().classify_many(jpegs)


def test_asking_twice_explains_once_in_the_worker_and_the_map_is_stored(tmp_path: Path) -> None:
    model = GatedQuadrant()
    local = LocalPipeline(LocalStore(tmp_path), model, workers=2)
    try:
        prediction_id = local.submit(two_lesions())
        local.wait(prediction_id, timeout=30)
        assert local.explanation("local", prediction_id) is None
        first = local.request_explanation("local", prediction_id)
        second = local.request_explanation("local", prediction_id)  # while the first runs
        assert second is first
        model.gate.set()
        occlusion = first.result(timeout=30)
        third = local.request_explanation("local", prediction_id).result(timeout=30)
    finally:
        local.close()
    assert model.batches == [1, 50]  # the upload, then one masked batch for all three asks
    assert third == occlusion
    assert local.explanation("local", prediction_id) == occlusion
    hottest = occlusion.hottest(2)
    assert all(row <= 3 and col <= 1 for row, col in hottest), hottest


def test_a_result_without_scores_is_not_explained(pipeline: LocalPipeline) -> None:
    prediction_id = pipeline.submit(b"just some text")
    pipeline.wait(prediction_id)
    with pytest.raises(NotExplainable):
        pipeline.request_explanation("local", prediction_id).result(timeout=30)
    with pytest.raises(InvalidKey):
        pipeline.request_explanation("local", "../etc")
