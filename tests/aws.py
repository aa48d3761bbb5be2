"""AWS test helpers: an endpoint double that answers from the request, HTTP faults injected
below botocore, and the S3 -> SQS wiring and Lambda context the handler tests need."""

from __future__ import annotations

import base64
import io
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from PIL import Image, ImageStat

from runtime.keys import KeyLayout
from tests.conftest import REAL_ID2LABEL
from tests.fakes import quadrant_scores

REGION = "eu-west-1"
CONTAINER_DEFAULT_TOP_K = 5
"""What the Hugging Face image-classification pipeline answers without ``top_k``."""
LABEL_CODES = dict(
    zip(REAL_ID2LABEL.values(), ["bkl", "bcc", "akiec", "vasc", "nv", "mel", "df"], strict=True)
)
"""The real model's labels and their HAM10000 codes, written out here independently of
``runtime.labels`` so a test that compares codes checks the runtime's mapping too."""


def endpoint_scores(jpeg: bytes) -> dict[str, float]:
    """The endpoint double's model: a score for each of the real model's seven labels.

    A softmax over the mean brightness of seven horizontal bands of the image, so the scores
    depend on the very pixels the endpoint received and a test can compute them from the image
    it expects to have been sent.
    """
    image = Image.open(io.BytesIO(jpeg), formats=["JPEG"]).convert("L")
    width, height = image.size
    labels = list(REAL_ID2LABEL.values())
    logits = []
    for band in range(len(labels)):
        box = (0, band * height // len(labels), width, (band + 1) * height // len(labels))
        logits.append(ImageStat.Stat(image.crop(box)).mean[0] / 16)
    weights = [math.exp(logit - max(logits)) for logit in logits]
    return {label: weight / sum(weights) for label, weight in zip(labels, weights, strict=True)}


def quadrant_endpoint_scores(jpeg: bytes) -> dict[str, float]:
    """``tests.fakes.quadrant_scores`` as the endpoint's model: by the real model's labels, so
    the classifier under test maps them back to codes itself."""
    by_code = quadrant_scores(jpeg)
    return {label: by_code[code] for label, code in LABEL_CODES.items()}


def endpoint_answer(scores: Mapping[str, float], top_k: int) -> list[dict[str, object]]:
    """The container's answer: the ``top_k`` best labels, highest first."""
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:top_k]
    return [{"label": label, "score": score} for label, score in ranked]


class _Body(io.BytesIO):
    """A raw HTTP body as botocore reads it: whole (errors) or as a stream (answers)."""

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self.getvalue()


class EndpointFaults:
    """A before-send hook: records every endpoint request and answers queued HTTP faults first.

    botocore's retry handler sees these answers exactly as it would see the service's, so the
    real retry policy runs (a Stubber would bypass it).
    """

    def __init__(self) -> None:
        self.requests: list[AWSPreparedRequest] = []
        self.faults: list[tuple[int, str]] = []
        self.message = "injected {code}"
        """The faults' error message; ``{code}`` is replaced by the error code."""

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
        payload: dict[str, object] = {"message": self.message.format(code=code)}
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


class EndpointDouble(EndpointFaults):
    """A before-send hook that plays the deployed endpoint: it answers every request from the
    request itself, as the Hugging Face container would.

    A JSON body is decoded, its base64 ``inputs`` decoded to the image, and
    ``parameters.top_k`` honoured; without it (or for a raw image body) only the best
    ``CONTAINER_DEFAULT_TOP_K`` labels come back, as from the real container. A list of
    base64 ``inputs`` is answered with one list of label scores per image, in order, as the
    container's pipeline answers a batch. Scores are ``model`` of each image (by default
    ``endpoint_scores``). Queued ``faults`` are answered first; ``delay`` seconds pass before
    each answer, as for a slow model. With ``honour_parameters`` off it plays a container that
    drops the request's parameters (the top-5 trap).
    """

    def __init__(
        self,
        delay: float = 0.0,
        model: Callable[[bytes], dict[str, float]] = endpoint_scores,
    ) -> None:
        super().__init__()
        self.delay = delay
        self.model = model
        self.honour_parameters = True
        self.batches: list[int] = []
        """The number of images in each request answered (1 for a single image)."""
        self.drop_answers = 0
        """Answers a batch with this many images fewer: a container that loses some."""

    def __call__(self, request: AWSPreparedRequest, **kwargs: object) -> AWSResponse | None:
        fault = super().__call__(request, **kwargs)
        if fault is not None:
            return fault
        time.sleep(self.delay)
        body = request.body if isinstance(request.body, bytes) else b""
        top_k = CONTAINER_DEFAULT_TOP_K
        # botocore keeps header values as bytes, whatever its type hints say
        content_type: object = request.headers.get("Content-Type")
        answer: object
        if content_type in (b"application/json", "application/json"):
            payload = json.loads(body)
            if self.honour_parameters:
                top_k = int(payload.get("parameters", {}).get("top_k", top_k))
            inputs = payload["inputs"]
            if isinstance(inputs, list):
                images = [base64.b64decode(item, validate=True) for item in inputs]
                self.batches.append(len(images))
                answer = [endpoint_answer(self.model(image), top_k) for image in images]
                answer = answer[: len(answer) - self.drop_answers]
            else:
                self.batches.append(1)
                image = base64.b64decode(inputs, validate=True)
                answer = endpoint_answer(self.model(image), top_k)
        else:
            self.batches.append(1)
            answer = endpoint_answer(self.model(body), top_k)
        return AWSResponse(
            request.url,
            200,
            {"Content-Type": "application/json"},  # type: ignore[arg-type]  # a plain mapping
            _Body(json.dumps(answer).encode()),
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
        # A fresh invocation of a function with a 120 s timeout: one endpoint attempt at the
        # default 60 s read timeout (plus connect) fits, so the handler starts its messages.
        return 120_000


class DeadlineContext(LambdaContext):
    """A Lambda context whose invocation really ends ``seconds`` after it is made."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends - time.monotonic()) * 1000))


def wire_uploads_queue(
    s3: Any, sqs: Any, bucket: str, queue_name: str, prefixes: Sequence[str] | None = None
) -> tuple[str, str]:
    """A bucket whose new objects under the notified prefixes (by default every one of
    ``KeyLayout().notified()``) are announced on a queue, as the stack wires them, one
    configuration per prefix. Returns the queue's URL and ARN. S3 sends its test event first."""
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    queue_arn = str(attributes["Attributes"]["QueueArn"])
    notified = KeyLayout().notified().values() if prefixes is None else prefixes
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
                for prefix in notified
            ]
        },
    )
    return str(queue_url), queue_arn
