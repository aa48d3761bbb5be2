"""AWS test helpers: canned SageMaker endpoint answers and HTTP faults injected below botocore."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient

from tests.conftest import REAL_ID2LABEL

REGION = "eu-west-1"


def container_answer(labels: list[str] | None = None) -> list[dict[str, object]]:
    """What the Hugging Face container answers: label scores, highest first, summing to 1."""
    labels = labels if labels is not None else list(REAL_ID2LABEL.values())
    weights = list(range(len(labels), 0, -1))
    return [
        {"label": label, "score": weight / sum(weights)}
        for label, weight in zip(labels, weights, strict=True)
    ]


def queue_endpoint_answers(*answers: object) -> None:
    """Queue canned endpoint answers in moto, one per distinct request body.

    moto sees a request even when an ``EndpointFaults`` hook answers it (botocore calls every
    before-send handler), so a faulted image uses up an answer too.
    """
    results = [{"Body": json.dumps(a), "ContentType": "application/json"} for a in answers]
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={"account_id": "123456789012", "region": REGION, "results": results},
        timeout=5,
    )
    response.raise_for_status()


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._data


class EndpointFaults:
    """A before-send hook: records every endpoint request and answers queued HTTP faults first.

    botocore's retry handler sees these answers exactly as it would see the service's, so the
    real retry policy runs (a Stubber would bypass it).
    """

    def __init__(self) -> None:
        self.requests: list[AWSPreparedRequest] = []
        self.faults: list[tuple[int, str]] = []

    def attach(self, client: BaseClient) -> None:
        """Hook into ``client`` ahead of moto's own handler, so injected faults win."""
        client.meta.events.register_first(
            "before-send.sagemaker-runtime.InvokeEndpoint",
            self,  # type: ignore[arg-type]  # before-send handlers may return a response
        )

    def __call__(self, request: AWSPreparedRequest, **_: object) -> AWSResponse | None:
        self.requests.append(request)
        if not self.faults:
            return None  # moto answers
        status, code = self.faults.pop(0)
        payload: dict[str, object] = {"message": f"injected {code}"}
        if code == "ModelError":
            # SageMaker answers 424 and passes on the container's own status.
            payload["OriginalStatusCode"] = status
            status = 424
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json"}
        return AWSResponse(
            request.url,
            status,
            headers,  # type: ignore[arg-type]  # botocore reads it as a plain mapping
            _Body(json.dumps(payload).encode()),
        )


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message (as ReceiveMessage returns it) as Lambda's event source passes it on."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class LambdaContext:
    """The parts of Lambda's context object that Powertools reads."""

    function_name = "dermascan-classify"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:dermascan-classify"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def wire_uploads_queue(s3: Any, sqs: Any, bucket: str, queue_name: str) -> tuple[str, str]:
    """A bucket whose new objects under uploads/ are announced on a queue, as the stack wires
    them. Returns the queue's URL and ARN. S3 sends its test event first."""
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    queue_arn = str(attributes["Attributes"]["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                }
            ]
        },
    )
    return str(queue_url), queue_arn
