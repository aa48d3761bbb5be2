"""Where the model looked, on the Prediction page (AppTest): asked for from the page, computed by
the pipeline (the local worker; on AWS the Lambda function, never the app), shown over the model
input with an opacity control and the sentence on what it is and is not, and computed once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from streamlit.testing.v1 import AppTest

from app.explain_widgets import STALE_AFTER, WHAT_IT_IS, strongest_region
from runtime.explain import OcclusionMap
from runtime.keys import KeyLayout
from runtime.stores import LocalStore
from tests.app.conftest import BUCKET, QueueWorker, new_app
from tests.app.test_local_app import classify_upload, open_result, texts
from tests.aws import REGION

LAYOUT = KeyLayout()
BUTTON = "explain"


def images_alt(at: AppTest) -> list[str]:
    """The alt text and caption of every image on the page (st.image's protobuf)."""
    alts = []
    for element in at.get("image"):
        alts += [f"{img.alt} | {img.caption}" for img in element.proto.imgs]
    return alts


def test_the_explanation_is_asked_for_shown_with_what_it_is_not_and_computed_once(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = classify_upload(new_app(), "a.jpg", sample_paths["mel"].read_bytes())
    prediction_id = at.session_state["last_id"]
    page = open_result(prediction_id)
    assert "Where the model looked" in texts(page)
    assert WHAT_IT_IS not in texts(page)  # nothing is computed until it is asked for
    png_key, json_key = LAYOUT.explanation_keys("local", prediction_id)
    store = LocalStore(local_env)
    assert not store.exists(json_key)

    page.button(key=BUTTON).click().run()
    assert not page.exception, page.exception
    page.run()  # the rerun after the worker finished
    assert not page.exception, page.exception
    said = texts(page)
    assert WHAT_IT_IS in said
    assert "not a diagnosis and not a segmentation" in said
    (shown,) = [alt for alt in images_alt(page) if "red squares over the regions" in alt]
    assert "occlusion map of the malignant total" in shown
    assert store.exists(png_key)
    stored = json.loads(store.get(json_key))
    assert page.slider(key="explanation_opacity").value == 60
    page.slider(key="explanation_opacity").set_value(0).run()
    assert not page.exception, page.exception

    again = open_result(prediction_id)  # another visit: shown from the store, no button
    assert WHAT_IT_IS in texts(again)
    assert not [b for b in again.button if b.key == BUTTON]
    assert json.loads(store.get(json_key)) == stored  # not computed a second time


def test_a_failed_result_offers_no_explanation(local_env: Path) -> None:
    at = classify_upload(new_app(), "not-an-image.jpg", b"\xff\xd8 this is no JPEG")
    prediction_id = at.session_state["last_id"]
    page = open_result(prediction_id)
    assert "Where the model looked" not in texts(page)
    assert not [b for b in page.button if b.key == BUTTON]


def test_on_aws_the_function_computes_it_once_and_the_page_shows_it(
    worker: QueueWorker,
    sample_paths: dict[str, Path],
) -> None:
    at = classify_upload(new_app(), "a.jpg", sample_paths["bcc"].read_bytes())
    prediction_id = at.session_state["last_id"]
    page = open_result(prediction_id)
    batches_before = list(worker.endpoint.batches)

    page.button(key=BUTTON).click().run()
    assert not page.exception, page.exception
    s3 = boto3.client("s3", region_name=REGION)
    request_key = LAYOUT.explain_request_key("shared", prediction_id)
    s3.head_object(Bucket=BUCKET, Key=request_key)  # the app asked; it never calls the endpoint
    _, json_key = LAYOUT.explanation_keys("shared", prediction_id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=json_key).get("KeyCount", 0)
        if listed:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the function never stored the explanation")

    page.run()
    assert not page.exception, page.exception
    assert WHAT_IT_IS in texts(page)
    # 49 masked copies and the re-encoded original, in the fewest requests the limits allow.
    assert worker.endpoint.batches[len(batches_before) :] == [25, 25]

    open_result(prediction_id)
    page.run()
    time.sleep(1.5)  # a worker poll: nothing new may arrive
    assert worker.endpoint.batches[len(batches_before) :] == [25, 25]


def classified_then_unanswered(stack: str, image: Path) -> str:
    """Classify ``image`` through the stack's function, then stop it: an explanation asked
    for afterwards stays unanswered. The result's id."""
    function = QueueWorker(stack, f"arn:aws:sqs:{REGION}:123456789012:uploads")
    function.start()
    try:
        at = classify_upload(new_app(), "a.jpg", image.read_bytes())
    finally:
        function.stopping.set()
        function.join(timeout=10)
    return str(at.session_state["last_id"])


def test_on_aws_a_requested_explanation_shows_that_it_is_being_computed(
    stack: str,  # no worker: nothing answers
    sample_paths: dict[str, Path],
) -> None:
    prediction_id = classified_then_unanswered(stack, sample_paths["nv"])
    page = open_result(prediction_id)
    page.button(key=BUTTON).click().run()
    assert not page.exception, page.exception
    assert "Computing where the model looked" in texts(page)
    assert WHAT_IT_IS not in texts(page)
    assert not [b for b in page.button if b.key == BUTTON]  # asked once, not again

    later = open_result(prediction_id)  # another visit, while the function still works on it
    assert "Computing where the model looked" in texts(later)


def test_the_maps_sentence_points_at_a_region_only_when_masking_one_lowered_the_score() -> None:
    flat = OcclusionMap(
        target="malignant", grid=2, baseline=0.47, drops=((0.0, 0.001), (-0.2, 0.0))
    )
    said = strongest_region(flat)
    assert said.startswith("Explains the malignant total (akiec + bcc + mel): 47% for the whole")
    assert "Masking no single region lowered it" in said
    peaked = OcclusionMap(target="mel", grid=2, baseline=0.6, drops=((0.0, 0.25), (0.1, 0.0)))
    said = strongest_region(peaked)
    assert "the score of Melanoma: 60%" in said
    assert "strongest region (row 1, column 2) lowers it by 25 percentage points" in said


def test_on_aws_a_request_that_never_got_an_answer_can_be_made_again(
    stack: str,  # no worker: nothing answers
    sample_paths: dict[str, Path],
) -> None:
    prediction_id = classified_then_unanswered(stack, sample_paths["nv"])
    s3 = boto3.client("s3", region_name=REGION)
    request_key = LAYOUT.explain_request_key("shared", prediction_id)
    asked = datetime.now(UTC) - STALE_AFTER - timedelta(minutes=1)
    s3.put_object(
        Bucket=BUCKET, Key=request_key, Body=json.dumps({"requested_at": asked.isoformat()})
    )

    page = open_result(prediction_id)
    assert "has not arrived after 15 minutes" in texts(page)
    page.button(key=BUTTON).click().run()
    assert not page.exception, page.exception
    assert "Computing where the model looked" in texts(page)
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=request_key)["Body"].read())
    assert datetime.fromisoformat(stored["requested_at"]) > asked + STALE_AFTER  # asked anew
