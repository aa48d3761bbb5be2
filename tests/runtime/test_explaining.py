"""runtime.explaining: a result's explanation is right, computed once, and stored complete."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from PIL import Image

from runtime.classifiers import SageMakerClassifier, TransientError, as_batch
from runtime.explain import OcclusionMap
from runtime.explaining import NotExplainable, explain, stored_explanation
from runtime.keys import KeyLayout
from runtime.pipeline import process_upload
from tests.aws import REGION, EndpointDouble, quadrant_endpoint_scores
from tests.fakes import FakeClassifier, MemoryStore, QuadrantClassifier, two_lesions

LAYOUT = KeyLayout()
OWNER = "clinic-a"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class OrderedStore(MemoryStore):
    """A memory store that remembers the order of its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def put(self, key: str, data: bytes, content_type: str, *, derived: bool = False) -> None:
        self.writes.append(key)
        super().put(key, data, content_type, derived=derived)

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        self.writes.append(key)
        return super().put_if_absent(key, data, content_type)


def classified(store: MemoryStore, image: bytes, classifier: QuadrantClassifier) -> str:
    """An upload classified through the pipeline (record and thumbnail stored); its id."""
    upload = LAYOUT.new_upload(OWNER, "JPEG")
    store.put(upload.key, image, "image/jpeg")
    process_upload(upload.key, store=store, classifier=classifier, layout=LAYOUT)
    return upload.id


def test_the_hottest_cells_lie_in_the_quadrant_the_model_looks_at() -> None:
    store, model = MemoryStore(), QuadrantClassifier()
    prediction_id = classified(store, two_lesions(), model)
    occlusion = explain(store, LAYOUT, model, OWNER, prediction_id)
    # Regions 0-3 touch the top-left quadrant (pixels 0-111); the lesion there is in rows 1-3,
    # columns 0-1. Masking light skin with grey darkens it (a negative drop), so the regions
    # that raised the score are the lesion's. The other lesion (bottom-right) must not matter.
    hottest = occlusion.hottest(2)
    assert all(1 <= row <= 3 and col <= 1 for row, col in hottest), hottest
    assert all(occlusion.drops[row][col] > 0.005 for row, col in hottest)
    outside = [occlusion.drops[r][c] for r in range(7) for c in range(7) if r >= 4 or c >= 4]
    assert outside == pytest.approx([0.0] * len(outside), abs=1e-9)


def test_asking_twice_classifies_the_masked_batch_once() -> None:
    store, model = MemoryStore(), QuadrantClassifier()
    prediction_id = classified(store, two_lesions(), model)
    assert model.batches == [1]  # the upload itself
    first = explain(store, LAYOUT, model, OWNER, prediction_id)
    second = explain(store, LAYOUT, model, OWNER, prediction_id)
    assert model.batches == [1, 50]  # one batch: the input and its 49 masked copies
    assert second == first
    assert stored_explanation(store, LAYOUT, OWNER, prediction_id) == first


def test_the_heat_map_then_the_parameters_are_stored_beside_the_record() -> None:
    store, model = OrderedStore(), QuadrantClassifier()
    prediction_id = classified(store, two_lesions(), model)
    assert stored_explanation(store, LAYOUT, OWNER, prediction_id) is None
    told: list[float] = []
    occlusion = explain(
        store,
        LAYOUT,
        model,
        OWNER,
        prediction_id,
        clock=lambda: NOW,
        on_new=lambda e: told.append(e.seconds),
    )
    png_key, json_key = LAYOUT.explanation_keys(OWNER, prediction_id)
    assert png_key == f"explanations/{OWNER}/{prediction_id}.png"
    assert store.writes[-2:] == [png_key, json_key]  # the parameters last: they mean complete
    with Image.open(io.BytesIO(store.get(png_key)), formats=["PNG"]) as heat:
        assert heat.size == (224, 224)
    stored = json.loads(store.get(json_key))
    assert stored["grid"] == 7
    assert stored["target"] == "malignant"
    assert stored["baseline"] == occlusion.baseline
    assert stored["drops"] == [list(row) for row in occlusion.drops]
    assert stored["model"]["id"] == model.model.id
    assert stored["created_at"] == "2026-11-29T12:00:00.000+00:00"
    assert len(told) == 1
    explain(store, LAYOUT, model, OWNER, prediction_id, on_new=lambda e: told.append(0))
    assert len(told) == 1  # told of new explanations only


def test_a_failed_model_stores_nothing_and_the_next_request_starts_afresh() -> None:
    store, model = MemoryStore(), QuadrantClassifier()
    prediction_id = classified(store, two_lesions(), model)

    class Failing(QuadrantClassifier):
        def classify_many(self, jpegs: object) -> list[dict[str, float]]:
            raise TransientError("throttled")

    with pytest.raises(TransientError):
        explain(store, LAYOUT, Failing(), OWNER, prediction_id)
    assert not store.list_keys(LAYOUT.explanations, 10).keys
    assert explain(store, LAYOUT, model, OWNER, prediction_id).grid == 7


def test_missing_and_failed_results_are_refused_with_a_reason() -> None:
    store, model = MemoryStore(), QuadrantClassifier()
    missing = LAYOUT.new_upload(OWNER, "JPEG").id
    with pytest.raises(NotExplainable, match="no result"):
        explain(store, LAYOUT, model, OWNER, missing)
    refused = classified(store, b"not an image at all", model)
    with pytest.raises(NotExplainable, match="no scores"):
        explain(store, LAYOUT, model, OWNER, refused)
    lost = classified(store, two_lesions(), model)
    store.delete(LAYOUT.thumbnail_key(OWNER, lost))
    with pytest.raises(NotExplainable, match="thumbnail"):
        explain(store, LAYOUT, model, OWNER, lost)
    assert model.batches == [1]  # only the good upload was ever classified
    assert not store.list_keys(LAYOUT.explanations, 10).keys


def test_a_classifier_without_a_batch_call_is_asked_image_by_image() -> None:
    store = MemoryStore()
    prediction_id = classified(store, two_lesions(), QuadrantClassifier())
    single = FakeClassifier()
    occlusion = explain(store, LAYOUT, as_batch(single), OWNER, prediction_id, grid=4)
    assert len(single.calls) == 17
    assert occlusion.drops == ((0.0,) * 4,) * 4  # fixed answers: masking changes nothing


def test_the_endpoint_gives_the_local_map_within_1e_6_per_cell(mocked_aws: None) -> None:
    store, local = MemoryStore(), QuadrantClassifier()
    prediction_id = classified(store, two_lesions(), local)
    twin = MemoryStore()  # the same record and thumbnail, so each backend computes its own
    twin.objects.update(store.objects)
    expected = explain(twin, LAYOUT, local, OWNER, prediction_id)
    assert local.batches == [1, 50]

    double = EndpointDouble(model=quadrant_endpoint_scores)
    client = boto3.client("sagemaker-runtime", region_name=REGION)
    double.attach(client)
    remote = SageMakerClassifier(client, "dermascan-endpoint")
    occlusion = explain(store, LAYOUT, remote, OWNER, prediction_id)
    assert double.batches == [25, 25]  # 50 images in two requests
    assert isinstance(occlusion, OcclusionMap)
    assert occlusion.baseline == pytest.approx(expected.baseline, abs=1e-6)
    for ours, theirs in zip(occlusion.drops, expected.drops, strict=True):
        assert ours == pytest.approx(theirs, abs=1e-6)
    assert occlusion.hottest(3) == expected.hottest(3)
