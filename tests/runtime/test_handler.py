"""runtime.handler under moto: real S3 -> SQS notifications, messages read from the queue."""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from types import ModuleType
from typing import Any

import boto3
import pytest

from runtime.events import created_objects
from runtime.explain import OcclusionMap, occlusion_map
from runtime.images import prepare
from runtime.keys import KeyLayout, new_id
from runtime.labels import CLASSES
from runtime.outcomes import ConfirmedOutcome
from runtime.records import Prediction
from tests.aws import (
    LABEL_CODES,
    REGION,
    DeadlineContext,
    EndpointDouble,
    LambdaContext,
    endpoint_scores,
    lambda_sqs_record,
    quadrant_endpoint_scores,
    wire_uploads_queue,
)
from tests.fakes import QuadrantClassifier, two_lesions

BUCKET = "dermascan-handler-test"
ENDPOINT = "dermascan-endpoint"
LAYOUT = KeyLayout()


@dataclass
class Deployment:
    """The bucket and queue wired as the infrastructure wires them, and the handler module."""

    handler: ModuleType
    s3: Any
    sqs: Any
    queue_url: str
    queue_arn: str
    endpoint: EndpointDouble

    def upload(self, data: bytes, key: str | None = None) -> str:
        key = key or LAYOUT.upload_key("local", new_id(), "jpg")
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return key

    def receive(self) -> list[dict[str, Any]]:
        """Every message waiting in the queue, as Lambda's SQS event records."""
        records: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return records
            for message in messages:
                records.append(lambda_sqs_record(message, self.queue_arn))

    def invoke(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self.handler.handler({"Records": records}, LambdaContext())
        return result

    def record(self, upload_key: str) -> Prediction | None:
        ref = LAYOUT.parse_upload_key(upload_key)
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=LAYOUT.prediction_key(ref.owner, ref.id))
        except self.s3.exceptions.NoSuchKey:
            return None
        return Prediction.from_json(body["Body"].read())

    def records(self) -> list[Prediction]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=LAYOUT.predictions)
        return [
            Prediction.from_json(self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
            for o in listing.get("Contents", [])
        ]


@pytest.fixture
def deployment(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url, queue_arn = wire_uploads_queue(s3, sqs, BUCKET, "dermascan-uploads")
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("INVOKE_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("INVOKE_READ_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "dermascan")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    # A fresh import, as in a new execution environment: settings and clients at module scope.
    sys.modules.pop("runtime.handler", None)
    handler = importlib.import_module("runtime.handler")
    endpoint = EndpointDouble()
    endpoint.attach(handler.sagemaker_runtime)
    yield Deployment(handler, s3, sqs, queue_url, queue_arn, endpoint)
    sys.modules.pop("runtime.handler", None)


def expected_scores(upload: bytes) -> dict[str, float]:
    """The scores the endpoint double gives the model input made from ``upload``, by code."""
    return {LABEL_CODES[label]: s for label, s in endpoint_scores(prepare(upload).jpeg).items()}


def drain_test_event(deployment: Deployment) -> None:
    (test_event,) = deployment.receive()
    assert json.loads(test_event["body"])["Event"] == "s3:TestEvent"


def test_the_test_event_is_acknowledged_and_skipped(deployment: Deployment) -> None:
    records = deployment.receive()
    assert [json.loads(r["body"]).get("Event") for r in records] == ["s3:TestEvent"]
    assert deployment.invoke(records) == {"batchItemFailures": []}
    assert deployment.records() == []
    assert deployment.endpoint.requests == []


def test_a_real_sample_yields_one_ok_record_with_seven_scores(
    deployment: Deployment, sample_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    drain_test_event(deployment)
    key = deployment.upload(sample_jpeg)
    records = deployment.receive()
    assert len(records) == 1

    assert deployment.invoke(records) == {"batchItemFailures": []}
    record = deployment.record(key)
    assert record is not None
    assert record.status == "ok"
    assert list(record.scores) == list(CLASSES)
    # The endpoint's answer for exactly this image, all seven classes of it: the image arrived
    # intact, top_k=7 was asked for, and every label was mapped to its code.
    expected = expected_scores(sample_jpeg)
    assert dict(record.scores) == pytest.approx(expected)
    assert record.top == max(expected, key=lambda code: expected[code])
    assert record.model.endpoint == ENDPOINT
    ref = LAYOUT.parse_upload_key(key)
    thumbnail = LAYOUT.thumbnail_key(ref.owner, ref.id)
    assert deployment.s3.head_object(Bucket=BUCKET, Key=thumbnail)["ContentLength"] > 0
    # Results land outside uploads/: they trigger no further message.
    assert deployment.receive() == []
    # EMF metrics: the prediction counted by class, no event or image bytes in the logs.
    output = capsys.readouterr().out
    metrics = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    assert any(m.get("Predictions") == [1.0] or m.get("Predictions") == 1.0 for m in metrics)
    assert any(m.get("class") == record.top for m in metrics)
    assert records[0]["body"] not in output


def test_the_same_message_twice_calls_the_endpoint_once(
    deployment: Deployment, sample_jpeg: bytes
) -> None:
    drain_test_event(deployment)
    key = deployment.upload(sample_jpeg)
    records = deployment.receive()
    first = deployment.invoke(records)
    second = deployment.invoke(records)  # at-least-once delivery: the same message again
    assert first == second == {"batchItemFailures": []}
    assert len(deployment.endpoint.requests) == 1
    assert deployment.record(key) is not None
    assert len(deployment.records()) == 1


def test_a_key_with_spaces_plus_and_unicode_is_decoded_and_classified(
    deployment: Deployment, sample_jpeg: bytes
) -> None:
    drain_test_event(deployment)
    key = "uploads/local/my photo+1 (ü).jpg"
    deployment.upload(sample_jpeg, key)
    records = deployment.receive()
    assert key not in records[0]["body"]  # S3 sends it URL-encoded

    assert deployment.invoke(records) == {"batchItemFailures": []}
    (record,) = deployment.records()
    assert record.upload_key == key
    assert record.status == "ok"
    assert dict(record.scores) == pytest.approx(expected_scores(sample_jpeg))
    # A redelivery finds the same record: its id derives from the key and upload time.
    assert deployment.invoke(records) == {"batchItemFailures": []}
    assert len(deployment.records()) == 1
    assert len(deployment.endpoint.requests) == 1


def test_a_throttled_endpoint_fails_exactly_that_message_and_writes_nothing(
    deployment: Deployment, sample_jpeg: bytes, sample_paths: dict[str, Any]
) -> None:
    drain_test_event(deployment)
    throttled = deployment.upload(sample_jpeg)
    fine = deployment.upload(sample_paths["nv"].read_bytes())
    records = deployment.receive()
    assert len(records) == 2
    by_key = {created_objects(r["body"])[0].key: r for r in records}
    ordered = [by_key[throttled], by_key[fine]]
    deployment.endpoint.faults = [(400, "ThrottlingException")] * 3  # the whole retry budget

    response = deployment.invoke(ordered)

    assert response == {"batchItemFailures": [{"itemIdentifier": by_key[throttled]["messageId"]}]}
    assert deployment.record(throttled) is None
    fine_record = deployment.record(fine)
    assert fine_record is not None
    assert fine_record.status == "ok"
    assert dict(fine_record.scores) == pytest.approx(
        expected_scores(sample_paths["nv"].read_bytes())
    )


@pytest.fixture
def logged(deployment: Deployment) -> Iterator[list[str]]:
    """Every line the handler's logger writes, formatted with its traceback."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(logging.Formatter().format(record))

    # Powertools' Logger writes to the stream it found at its first import; listen directly.
    target = logging.getLogger(deployment.handler.logger.name)
    collector = Collect()
    target.addHandler(collector)
    yield lines
    target.removeHandler(collector)


def test_a_container_4xx_is_retried_and_its_aws_text_stays_in_the_logs(
    deployment: Deployment, sample_jpeg: bytes, logged: list[str]
) -> None:
    drain_test_event(deployment)
    key = deployment.upload(sample_jpeg)
    records = deployment.receive()
    aws_text = (
        'Received client error (400) from primary with message "unknown parameter". See '
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEventViewer"
        ":group=/aws/sagemaker/Endpoints/dermascan-endpoint in account 123456789012"
    )
    deployment.endpoint.message = aws_text
    deployment.endpoint.faults = [(400, "ModelError")]

    # A deployment fault, not the image's: the message fails so SQS redelivers it, and then
    # (still failing) dead-letters it with its alarm. No record blames the image.
    first = deployment.invoke(records)
    assert first == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    assert deployment.record(key) is None
    assert len(deployment.endpoint.requests) == 1
    assert any("123456789012" in line for line in logged)  # the raw text went to the logs

    assert deployment.invoke(records) == {"batchItemFailures": []}  # the redelivery
    record = deployment.record(key)
    assert record is not None
    assert record.status == "ok"
    stored = record.to_json()
    for secret in ("123456789012", "console.aws.amazon.com", ENDPOINT + " in", "ModelError"):
        assert secret not in stored


def test_a_corrupt_image_gets_an_error_record_and_no_failure(
    deployment: Deployment, sample_jpeg: bytes
) -> None:
    drain_test_event(deployment)
    key = deployment.upload(sample_jpeg[: len(sample_jpeg) // 3])
    assert deployment.invoke(deployment.receive()) == {"batchItemFailures": []}
    record = deployment.record(key)
    assert record is not None
    assert record.status == "error"
    assert record.error is not None
    assert record.error.code == "corrupt"
    assert deployment.endpoint.requests == []


def test_a_file_that_is_no_image_gets_an_error_record_through_s3_and_sqs(
    deployment: Deployment,
) -> None:
    # What the app stores for a file that is no accepted image: uploads/<owner>/<id>.bin. The
    # notification (uploads/ prefix, no suffix filter, as the stack declares it) announces it.
    drain_test_event(deployment)
    key = deployment.upload(
        b"%PDF-1.7 referral letter", LAYOUT.upload_key("local", new_id(), "bin")
    )
    records = deployment.receive()
    assert [created_objects(r["body"])[0].key for r in records] == [key]
    assert deployment.invoke(records) == {"batchItemFailures": []}
    record = deployment.record(key)
    assert record is not None
    assert record.status == "error"
    assert record.error is not None
    assert (record.error.code, record.error.message) == (
        "not_an_image",
        "This file is a PDF document, not a photo. Upload JPEG, PNG or WebP.",
    )
    assert deployment.endpoint.requests == []


def test_an_unreadable_record_is_reported_once_and_not_retried_forever(
    deployment: Deployment,
    sample_jpeg: bytes,
    logged: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    drain_test_event(deployment)
    key = deployment.upload(sample_jpeg)
    ref = LAYOUT.parse_upload_key(key)
    record_key = LAYOUT.prediction_key(ref.owner, ref.id)
    deployment.s3.put_object(Bucket=BUCKET, Key=record_key, Body=b'{"schema_version": 1')
    records = deployment.receive()

    # Acknowledged: redelivering it would meet the same record until the dead-letter queue.
    assert deployment.invoke(records) == {"batchItemFailures": []}
    assert deployment.endpoint.requests == []
    errors = [line for line in logged if "record exists but cannot be read" in line]
    assert len(errors) == 1
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert [m["source"] for m in metrics if "UnreadableRecords" in m] == ["pipeline"]
    body = deployment.s3.get_object(Bucket=BUCKET, Key=record_key)["Body"].read()
    assert body == b'{"schema_version": 1'  # left for someone to look at, not overwritten


def test_an_upload_deleted_before_the_function_runs_leaves_no_record_and_is_counted(
    deployment: Deployment, sample_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    drain_test_event(deployment)
    key = deployment.upload(sample_jpeg)
    records = deployment.receive()
    deployment.s3.delete_object(Bucket=BUCKET, Key=key)  # its owner deleted it meanwhile

    assert deployment.invoke(records) == {"batchItemFailures": []}
    assert deployment.record(key) is None  # a record now would outlive the deletion
    assert deployment.endpoint.requests == []
    assert values(emitted(capsys), "UploadsGoneBeforeClassified") == [1.0]


def test_keys_outside_the_notified_prefixes_are_ignored(deployment: Deployment) -> None:
    drain_test_event(deployment)
    body = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-11-26T10:00:00.000Z",
                "s3": {"bucket": {"name": BUCKET}, "object": {"key": "predictions/local/x.json"}},
            }
        ]
    }
    message = {"MessageId": "m-1", "ReceiptHandle": "r", "Body": json.dumps(body)}
    record = lambda_sqs_record(message, deployment.queue_arn)
    assert deployment.invoke([record]) == {"batchItemFailures": []}
    assert deployment.records() == []


def test_the_endpoint_client_is_built_from_both_invoke_settings(deployment: Deployment) -> None:
    config = deployment.handler.sagemaker_runtime.meta.config
    assert config.retries["total_max_attempts"] == 3
    assert config.read_timeout == 2
    # One attempt's worst case, from the client's own timeouts, is what a message needs to start.
    assert deployment.handler.invoke_attempt_seconds == config.connect_timeout + 2


def test_the_handler_returns_before_its_deadline_listing_the_messages_it_did_not_finish(
    deployment: Deployment, sample_jpeg: bytes
) -> None:
    drain_test_event(deployment)
    keys = {deployment.upload(sample_jpeg) for _ in range(4)}
    records = deployment.receive()
    assert len(records) == 4
    # A slow model: each answer takes 1.5 s, within the 2 s read timeout. One attempt may take
    # connect + read = 5 s, so with 9 s left (7 s before the handler's margin) one or two
    # messages can start, never all four.
    deployment.endpoint.delay = 1.5
    context = DeadlineContext(seconds=9.0)

    response = deployment.handler.handler({"Records": records}, context)

    assert context.get_remaining_time_in_millis() > 0, "the invocation ran past its timeout"
    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    finished = {
        r["messageId"] for r in records if deployment.record(created_objects(r["body"])[0].key)
    }
    assert failed == {r["messageId"] for r in records} - finished  # exactly the unfinished
    assert finished
    assert failed
    assert {created_objects(r["body"])[0].key for r in records} == keys


def test_a_message_that_is_not_a_notification_is_failed_not_dropped(
    deployment: Deployment,
) -> None:
    drain_test_event(deployment)
    deployment.sqs.send_message(QueueUrl=deployment.queue_url, MessageBody="hello")
    records = deployment.receive()
    assert deployment.invoke(records) == {
        "batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]
    }


# --- explanation requests and confirmed outcomes: routed by prefix ----------------------------


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF metric lines the handler printed since the last call."""
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def values(metrics: list[dict[str, Any]], name: str) -> list[float]:
    found: list[float] = []
    for metric in metrics:
        if name in metric:
            value = metric[name]
            found.extend(value if isinstance(value, list) else [value])
    return found


def classified_upload(deployment: Deployment, image: bytes) -> tuple[str, str]:
    """An upload classified through S3, SQS and the handler; its owner and id."""
    key = deployment.upload(image)
    assert deployment.invoke(deployment.receive()) == {"batchItemFailures": []}
    ref = LAYOUT.parse_upload_key(key)
    return ref.owner, ref.id


def test_an_explanation_request_is_answered_once_with_the_local_map(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    drain_test_event(deployment)
    deployment.endpoint.model = quadrant_endpoint_scores
    owner, prediction_id = classified_upload(deployment, two_lesions())
    request_key = LAYOUT.explain_request_key(owner, prediction_id)
    deployment.s3.put_object(Bucket=BUCKET, Key=request_key, Body=b"{}")
    records = deployment.receive()
    assert [created_objects(r["body"])[0].key for r in records] == [request_key]
    capsys.readouterr()

    assert deployment.invoke(records) == {"batchItemFailures": []}
    assert deployment.endpoint.batches == [1, 25, 25]  # the upload, then 50 images in two
    assert values(emitted(capsys), "Explanations") == [1.0]
    # Redelivered, and asked for again: the stored explanation answers both.
    assert deployment.invoke(records) == {"batchItemFailures": []}
    deployment.s3.put_object(Bucket=BUCKET, Key=request_key, Body=b"{}")
    assert deployment.invoke(deployment.receive()) == {"batchItemFailures": []}
    assert deployment.endpoint.batches == [1, 25, 25]
    assert values(emitted(capsys), "Explanations") == []

    png_key, json_key = LAYOUT.explanation_keys(owner, prediction_id)
    assert deployment.s3.head_object(Bucket=BUCKET, Key=png_key)["ContentType"] == "image/png"
    stored = OcclusionMap.from_json(
        deployment.s3.get_object(Bucket=BUCKET, Key=json_key)["Body"].read()
    )
    thumbnail = deployment.s3.get_object(
        Bucket=BUCKET, Key=LAYOUT.thumbnail_key(owner, prediction_id)
    )["Body"].read()
    local = occlusion_map(thumbnail, QuadrantClassifier().classify_many)
    for ours, theirs in zip(stored.drops, local.drops, strict=True):
        assert ours == pytest.approx(theirs, abs=1e-6)
    assert deployment.receive() == []  # explanations are not notified: no loop


def test_an_explanation_the_endpoint_cannot_give_now_is_retried_and_then_stored(
    deployment: Deployment,
) -> None:
    drain_test_event(deployment)
    owner, prediction_id = classified_upload(deployment, two_lesions())
    deployment.s3.put_object(
        Bucket=BUCKET, Key=LAYOUT.explain_request_key(owner, prediction_id), Body=b"{}"
    )
    records = deployment.receive()
    deployment.endpoint.faults = [(400, "ThrottlingException")] * 3
    failed = deployment.invoke(records)
    assert failed == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    _, json_key = LAYOUT.explanation_keys(owner, prediction_id)
    assert "Contents" not in deployment.s3.list_objects_v2(Bucket=BUCKET, Prefix="explanations/")
    assert deployment.invoke(records) == {"batchItemFailures": []}
    assert deployment.s3.head_object(Bucket=BUCKET, Key=json_key)["ContentLength"] > 0


def test_an_explanation_of_no_result_is_refused_and_acknowledged(
    deployment: Deployment, logged: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    drain_test_event(deployment)
    missing = LAYOUT.explain_request_key("local", new_id())
    deployment.s3.put_object(Bucket=BUCKET, Key=missing, Body=b"{}")
    deployment.s3.put_object(Bucket=BUCKET, Key="explain-requests/local/nonsense", Body=b"{}")
    assert deployment.invoke(deployment.receive()) == {"batchItemFailures": []}
    assert deployment.endpoint.requests == []
    assert sum("explanation not made" in line for line in logged) == 2
    refused = [m["reason"] for m in emitted(capsys) if "ExplanationsRefused" in m]
    assert sorted(refused) == ["InvalidKey", "NotExplainable"]


def confirm(deployment: Deployment, owner: str, prediction_id: str, diagnosis: str) -> None:
    outcome = ConfirmedOutcome.record(
        prediction_id=prediction_id,
        owner=owner,
        diagnosis=diagnosis,
        method="histopathology",
        confirmed_on=date(2026, 11, 20),
    )
    key = LAYOUT.outcome_key(owner, prediction_id, new_id())
    deployment.s3.put_object(Bucket=BUCKET, Key=key, Body=outcome.to_json().encode())


def test_each_confirmed_outcome_is_counted_with_its_agreement(
    deployment: Deployment, sample_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    drain_test_event(deployment)
    owner, prediction_id = classified_upload(deployment, sample_jpeg)
    top = max(expected_scores(sample_jpeg).items(), key=lambda item: item[1])[0]
    other_class = next(code for code in CLASSES if code != top)
    capsys.readouterr()

    confirm(deployment, owner, prediction_id, top)
    assert deployment.invoke(deployment.receive()) == {"batchItemFailures": []}
    metrics = emitted(capsys)
    assert values(metrics, "OutcomeConfirmed") == [1.0]
    assert values(metrics, "OutcomeAgreement") == [1.0]

    confirm(deployment, owner, prediction_id, other_class)  # a correction: the model missed
    assert deployment.invoke(deployment.receive()) == {"batchItemFailures": []}
    metrics = emitted(capsys)
    assert values(metrics, "OutcomeConfirmed") == [1.0]
    assert values(metrics, "OutcomeAgreement") == [0.0]

    confirm(deployment, owner, prediction_id, "other")  # outside the seven: no agreement
    assert deployment.invoke(deployment.receive()) == {"batchItemFailures": []}
    metrics = emitted(capsys)
    assert values(metrics, "OutcomeConfirmed") == [1.0]
    assert values(metrics, "OutcomeAgreement") == []
    assert deployment.endpoint.batches == [1]  # outcomes never call the model


def test_an_outcome_that_is_not_one_is_logged_and_acknowledged(
    deployment: Deployment, logged: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    drain_test_event(deployment)
    key = LAYOUT.outcome_key("local", new_id(), new_id())
    deployment.s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"diagnosis": "mel"}')
    assert deployment.invoke(deployment.receive()) == {"batchItemFailures": []}
    assert any("outcome not counted" in line for line in logged)
    metrics = emitted(capsys)
    assert values(metrics, "OutcomeConfirmed") == []
    assert values(metrics, "OutcomesUnreadable") == [1.0]
