"""runtime.remote.RemotePipeline: explanations asked for with a small object, read once stored."""

from __future__ import annotations

import json

import pytest

from runtime.explaining import NotExplainable, explain
from runtime.keys import KeyLayout
from runtime.pipeline import process_upload
from runtime.remote import RemotePipeline
from tests.fakes import MemoryStore, QuadrantClassifier, two_lesions

LAYOUT = KeyLayout()
OWNER = "clinic-a"


def submitted(remote: RemotePipeline, image: bytes) -> str:
    """An upload through the remote pipeline, classified as the function would."""
    prediction_id = remote.submit(image, OWNER)
    key = LAYOUT.upload_key(OWNER, prediction_id, "jpg" if image[:2] == b"\xff\xd8" else "bin")
    process_upload(key, store=remote.store, classifier=QuadrantClassifier(), layout=LAYOUT)
    return prediction_id


def test_a_request_is_a_small_json_object_under_explain_requests() -> None:
    store = MemoryStore()
    remote = RemotePipeline(store)
    prediction_id = submitted(remote, two_lesions())
    remote.request_explanation(OWNER, prediction_id)
    request = json.loads(store.get(f"explain-requests/{OWNER}/{prediction_id}.json"))
    assert set(request) == {"requested_at"}
    assert remote.explanation(OWNER, prediction_id) is None  # until the function stores it

    computed = explain(store, LAYOUT, QuadrantClassifier(), OWNER, prediction_id)
    assert remote.explanation(OWNER, prediction_id) == computed
    store.delete(LAYOUT.explain_request_key(OWNER, prediction_id))
    remote.request_explanation(OWNER, prediction_id)
    assert not store.exists(LAYOUT.explain_request_key(OWNER, prediction_id))  # stored: no ask


def test_results_that_cannot_be_explained_are_refused_before_asking() -> None:
    store = MemoryStore()
    remote = RemotePipeline(store)
    refused = submitted(remote, b"a letter, not a photo")
    with pytest.raises(NotExplainable, match="no scores"):
        remote.request_explanation(OWNER, refused)
    with pytest.raises(NotExplainable, match="no result"):
        remote.request_explanation("someone-else", refused)  # not this owner's
    assert not store.list_keys(LAYOUT.explain_requests, 10).keys
