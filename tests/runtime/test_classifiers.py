"""runtime.classifiers: the SageMaker client (moto, injected faults) and local transformers."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.batching import MAX_IMAGES_PER_REQUEST, MAX_REQUEST_BYTES
from runtime.classifiers import (
    DEFAULT_MODEL_ID,
    DEFAULT_MODEL_REVISION,
    ClassifierError,
    ModelUnavailable,
    SageMakerClassifier,
    TransformersClassifier,
    TransientError,
    request_chunks,
    sagemaker_batch_body,
    sagemaker_client_config,
    scores_from_labels,
)
from runtime.explain import masked_inputs
from runtime.images import prepare
from runtime.labels import CLASSES
from tests.aws import LABEL_CODES, REGION, EndpointDouble, endpoint_scores

ENDPOINT = "dermascan-test-endpoint"


@pytest.fixture
def faults() -> EndpointDouble:
    return EndpointDouble()


@pytest.fixture
def endpoint(mocked_aws: None, faults: EndpointDouble) -> SageMakerClassifier:
    client = boto3.client(
        "sagemaker-runtime", region_name=REGION, config=sagemaker_client_config(max_attempts=3)
    )
    faults.attach(client)
    return SageMakerClassifier(client, ENDPOINT)


# --- the answer ------------------------------------------------------------------------------


def test_all_seven_scores_from_a_seven_label_answer(
    endpoint: SageMakerClassifier, sample_jpeg: bytes
) -> None:
    jpeg = prepare(sample_jpeg).jpeg
    scores = endpoint.classify(jpeg)
    assert list(scores) == list(CLASSES)
    expected = {LABEL_CODES[label]: score for label, score in endpoint_scores(jpeg).items()}
    assert scores == pytest.approx(expected)
    assert sum(scores.values()) == pytest.approx(1.0)


def test_a_five_label_answer_is_an_error_not_a_result(
    endpoint: SageMakerClassifier, faults: EndpointDouble, sample_jpeg: bytes
) -> None:
    faults.honour_parameters = False  # a container that drops top_k answers its default 5
    with pytest.raises(ClassifierError, match=r"5 of 7 classes.*top_k=7") as failed:
        endpoint.classify(prepare(sample_jpeg).jpeg)
    assert not isinstance(failed.value, TransientError)


def test_the_request_is_json_with_the_image_and_top_k_7(
    endpoint: SageMakerClassifier, faults: EndpointDouble, sample_jpeg: bytes
) -> None:
    jpeg = prepare(sample_jpeg).jpeg
    endpoint.classify(jpeg)
    (request,) = faults.requests
    assert request.url.endswith(f"/endpoints/{ENDPOINT}/invocations")
    assert request.headers["Content-Type"] == b"application/json"
    assert isinstance(request.body, bytes)
    body = json.loads(request.body)
    assert body["parameters"] == {"top_k": 7}
    assert base64.b64decode(body["inputs"]) == jpeg


def test_the_record_names_the_endpoint_and_the_pinned_model(
    endpoint: SageMakerClassifier,
) -> None:
    assert endpoint.model.backend == "sagemaker"
    assert endpoint.model.endpoint == ENDPOINT
    assert (endpoint.model.id, endpoint.model.revision) == (
        DEFAULT_MODEL_ID,
        DEFAULT_MODEL_REVISION,
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"label": "melanoma", "score": 1.0}, "expected a list"),
        ([{"label": "melanoma"}], "malformed score"),
        ([{"label": "mole", "score": 0.5}], "label we do not know"),
        ([{"label": "melanoma", "score": 1.5}], r"out of \[0, 1\]"),
        ([{"label": "melanoma", "score": 0.5}, {"label": "MELANOMA", "score": 0.5}], "twice"),
        (
            [{"label": label, "score": 0.9} for label in LABEL_CODES],  # a sigmoid head
            r"sum to 6\.3000, not 1",
        ),
        ([{"label": label, "score": 0.1} for label in LABEL_CODES], r"sum to 0\.7000, not 1"),
    ],
    ids=[
        "not-a-list",
        "no-score",
        "unknown-label",
        "out-of-range",
        "duplicate",
        "sigmoid",
        "short-of-one",
    ],
)
def test_malformed_answers_fail_loudly(answer: object, message: str) -> None:
    with pytest.raises(ClassifierError, match=message):
        scores_from_labels(answer)


# --- batches (an explanation's masked images) ---------------------------------------------------


def expected_by_code(jpeg: bytes) -> dict[str, float]:
    return {LABEL_CODES[label]: score for label, score in endpoint_scores(jpeg).items()}


def test_a_batch_goes_in_as_few_requests_as_the_limits_allow_and_keeps_its_order(
    endpoint: SageMakerClassifier, faults: EndpointDouble, sample_jpeg: bytes
) -> None:
    batch = masked_inputs(prepare(sample_jpeg).jpeg, grid=7)  # 50 images, each different
    scores = endpoint.classify_many(batch)
    assert faults.batches == [MAX_IMAGES_PER_REQUEST, 50 - MAX_IMAGES_PER_REQUEST]
    assert len(scores) == 50
    for jpeg, answer in zip(batch, scores, strict=True):
        assert answer == pytest.approx(expected_by_code(jpeg))
    for request in faults.requests:
        assert isinstance(request.body, bytes)
        body = json.loads(request.body)
        assert body["parameters"] == {"top_k": 7}
        assert isinstance(body["inputs"], list)
        assert len(request.body) <= MAX_REQUEST_BYTES


@pytest.mark.parametrize("count", [1, 4, 5, 9, 12])
def test_n_images_take_ceil_n_over_the_chunk_requests_in_order(
    mocked_aws: None, faults: EndpointDouble, sample_paths: dict[str, Path], count: int
) -> None:
    client = boto3.client("sagemaker-runtime", region_name=REGION)
    faults.attach(client)
    classifier = SageMakerClassifier(client, ENDPOINT, max_images_per_request=4)
    models_inputs = [prepare(path.read_bytes()).jpeg for path in sample_paths.values()]
    jpegs = [models_inputs[i % len(models_inputs)] for i in range(count)]
    scores = classifier.classify_many(jpegs)
    assert len(faults.requests) == math.ceil(count / 4)
    assert sum(faults.batches) == count
    assert scores == [pytest.approx(expected_by_code(jpeg)) for jpeg in jpegs]


def test_the_payload_limit_splits_a_batch_and_no_request_exceeds_it(sample_jpeg: bytes) -> None:
    # Serverless endpoints take at most 4 MB per request and per answer:
    # https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html
    assert MAX_REQUEST_BYTES <= 4_000_000
    jpegs = masked_inputs(prepare(sample_jpeg).jpeg, grid=4)  # 17 images
    limit = len(sagemaker_batch_body(jpegs[:3])) + 8  # three fit, a fourth never does
    chunks = request_chunks(jpegs, max_bytes=limit, max_images=100)
    assert [jpeg for chunk in chunks for jpeg in chunk] == jpegs
    assert all(len(sagemaker_batch_body(chunk)) <= limit for chunk in chunks)
    assert all(len(chunk) == 3 for chunk in chunks[:-1])
    with pytest.raises(ClassifierError, match="over 100 bytes"):
        request_chunks(jpegs, max_bytes=100)


def test_a_batch_answered_short_is_an_error_not_a_shifted_map(
    endpoint: SageMakerClassifier, faults: EndpointDouble, sample_jpeg: bytes
) -> None:
    faults.drop_answers = 1
    with pytest.raises(ClassifierError, match="answered 24 for a batch of 25"):
        endpoint.classify_many(masked_inputs(prepare(sample_jpeg).jpeg, grid=7))


def test_every_answer_of_a_batch_is_checked_like_a_single_one(
    endpoint: SageMakerClassifier, faults: EndpointDouble, sample_jpeg: bytes
) -> None:
    faults.honour_parameters = False
    with pytest.raises(ClassifierError, match="5 of 7 classes"):
        endpoint.classify_many([prepare(sample_jpeg).jpeg] * 2)


def test_the_container_pipeline_answers_a_list_of_base64_images_with_a_list_of_answers(
    tiny_model_dir: Path, sample_paths: dict[str, Path]
) -> None:
    # What the batch body relies on: the HF container calls pipeline(inputs, **parameters)
    # (sagemaker-huggingface-inference-toolkit, handler_service.predict), and the pipeline
    # answers a list of inputs with one list per input:
    # https://huggingface.co/docs/transformers/main_classes/pipelines#transformers.ImageClassificationPipeline
    from transformers import pipeline

    container = pipeline("image-classification", model=str(tiny_model_dir), device="cpu")
    jpegs = [prepare(path.read_bytes()).jpeg for path in list(sample_paths.values())[:3]]
    payload = json.loads(sagemaker_batch_body(jpegs))
    answer = container(payload["inputs"], **payload["parameters"])
    assert isinstance(answer, list)
    assert len(answer) == 3
    local = TransformersClassifier(str(tiny_model_dir)).classify_many(jpegs)
    for item, scores in zip(answer, local, strict=True):
        assert scores_from_labels(item) == pytest.approx(scores, abs=1e-6)


# --- failures --------------------------------------------------------------------------------


def test_throttling_is_retried_and_then_succeeds(
    endpoint: SageMakerClassifier, faults: EndpointDouble, sample_jpeg: bytes
) -> None:
    faults.faults = [(400, "ThrottlingException"), (503, "ServiceUnavailable")]
    scores = endpoint.classify(prepare(sample_jpeg).jpeg)
    assert len(faults.requests) == 3
    assert sum(scores.values()) == pytest.approx(1.0)


def test_retries_stop_at_the_budget_with_a_transient_error(
    endpoint: SageMakerClassifier, faults: EndpointDouble, sample_jpeg: bytes
) -> None:
    faults.faults = [(400, "ThrottlingException")] * 10
    with pytest.raises(TransientError, match="ThrottlingException"):
        endpoint.classify(prepare(sample_jpeg).jpeg)
    assert len(faults.requests) == 3  # the budget: 3 attempts in all


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (424, "ModelNotReadyException"),
        (500, "InternalFailure"),
        (424, "InternalDependencyException"),
        (503, "ModelError"),  # the container itself failed (its status 503)
    ],
)
def test_transient_failures_are_transient_errors(
    endpoint: SageMakerClassifier, faults: EndpointDouble, status: int, code: str
) -> None:
    faults.faults = [(status, code)] * 10
    with pytest.raises(TransientError, match=code):
        endpoint.classify(b"jpeg")


def test_a_container_4xx_is_a_deployment_fault_not_the_images(
    endpoint: SageMakerClassifier, faults: EndpointDouble, sample_jpeg: bytes
) -> None:
    # Only a valid 224x224 JPEG is ever sent, so a container that refuses it is misconfigured:
    # a ClassifierError (retried by SQS, then dead-lettered), never an error record.
    faults.faults = [(400, "ModelError")]
    with pytest.raises(ClassifierError, match="ModelError") as failed:
        endpoint.classify(prepare(sample_jpeg).jpeg)
    assert type(failed.value) is ClassifierError
    assert len(faults.requests) == 1  # botocore does not retry a 424; SQS redelivers


def test_a_missing_endpoint_is_a_deployment_error_not_a_bad_image(
    endpoint: SageMakerClassifier, faults: EndpointDouble
) -> None:
    faults.faults = [(400, "ValidationError")]
    with pytest.raises(ClassifierError, match="ValidationError") as failed:
        endpoint.classify(b"jpeg")
    assert type(failed.value) is ClassifierError


# --- local transformers ----------------------------------------------------------------------


def test_transformers_maps_the_real_labels_to_codes(
    tiny_model_dir: Path, sample_jpeg: bytes
) -> None:
    classifier = TransformersClassifier(str(tiny_model_dir))
    scores = classifier.classify(prepare(sample_jpeg).jpeg)
    assert list(scores) == list(CLASSES)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert classifier.model.backend == "transformers"
    assert classifier.model.revision is None  # a local directory has no Hub revision


def test_transformers_gives_the_same_scores_as_the_pipeline_itself(
    tiny_model_dir: Path, sample_paths: dict[str, Path]
) -> None:
    from PIL import Image
    from transformers import pipeline

    direct = pipeline("image-classification", model=str(tiny_model_dir), device="cpu")
    classifier = TransformersClassifier(str(tiny_model_dir))
    jpegs = [prepare(path.read_bytes()).jpeg for path in sample_paths.values()]
    ours = classifier.classify_many(jpegs, batch_size=4)
    for jpeg, scores in zip(jpegs, ours, strict=True):
        answer: Any = direct(Image.open(io.BytesIO(jpeg)), top_k=7)
        expected = {LABEL_CODES[item["label"]]: item["score"] for item in answer}
        assert scores == pytest.approx(expected, abs=1e-6)


def test_the_model_loads_once(tiny_model_dir: Path, sample_jpeg: bytes) -> None:
    classifier = TransformersClassifier(str(tiny_model_dir))
    classifier.load()
    loaded = classifier._pipeline
    classifier.classify(prepare(sample_jpeg).jpeg)
    assert classifier._pipeline is loaded


def test_a_directory_without_a_model_says_what_to_do(tmp_path: Path) -> None:
    # (A Hub model that cannot be downloaded is tested end to end in tests/runtime/test_cli.py.)
    classifier = TransformersClassifier(str(tmp_path))
    with pytest.raises(ModelUnavailable, match="does not hold a saved image-classification"):
        classifier.load()


def test_a_thread_count_is_applied_to_torch(tiny_model_dir: Path) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        TransformersClassifier(str(tiny_model_dir), threads=1).load()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
