"""The app on the AWS backend: a moto server, and a worker running runtime.handler on the queue."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from app.session import shared_backend
from runtime.images import prepare
from runtime.labels import NAMES
from tests.app.conftest import free_port, new_app
from tests.app.test_local_app import classify_upload, opened_ids, scores_table, texts
from tests.aws import (
    LABEL_CODES,
    REGION,
    EndpointDouble,
    LambdaContext,
    endpoint_scores,
    lambda_sqs_record,
    wire_uploads_queue,
)

BUCKET = "dermascan-app-test"


@pytest.fixture
def moto_server(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)  # every boto3 client, app and handler alike
    requests.post(f"{url}/moto-api/reset", timeout=5).raise_for_status()  # state is global
    yield url
    requests.post(f"{url}/moto-api/reset", timeout=5).raise_for_status()
    server.stop()


@pytest.fixture
def stack(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The bucket, queue and notification of a deployed stack, and the app pointed at it."""
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url, _ = wire_uploads_queue(s3, sqs, BUCKET, "uploads")
    for name, value in {
        "DERMASCAN_BACKEND": "aws",
        "DERMASCAN_BUCKET": BUCKET,
        "DERMASCAN_STACK": "test",
        "BUCKET_NAME": BUCKET,
        "ENDPOINT_NAME": "dermascan-endpoint",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "dermascan",
    }.items():
        monkeypatch.setenv(name, value)
    shared_backend.clear()
    yield queue_url
    shared_backend.clear()


class QueueWorker(threading.Thread):
    """Plays Lambda's SQS event source: receive a batch, invoke the handler, delete what passed."""

    def __init__(self, queue_url: str, arn: str) -> None:
        super().__init__(daemon=True)
        self.queue_url = queue_url
        self.arn = arn
        self.stopping = threading.Event()
        self.errors: list[Exception] = []
        sys.modules.pop("runtime.handler", None)
        self.handler = importlib.import_module("runtime.handler")
        self.endpoint = EndpointDouble()  # the deployed endpoint, answering from each request
        self.endpoint.attach(self.handler.sagemaker_runtime)
        self.sqs = boto3.client("sqs", region_name=REGION)

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.poll()
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
            self.errors.append(exc)

    def poll(self) -> None:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return
        event = {"Records": [lambda_sqs_record(m, self.arn) for m in messages]}
        result: dict[str, Any] = self.handler.handler(event, LambdaContext())
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def worker(stack: str) -> Iterator[QueueWorker]:
    arn = f"arn:aws:sqs:{REGION}:123456789012:uploads"
    running = QueueWorker(stack, arn)
    running.start()
    yield running
    running.stopping.set()
    running.join(timeout=10)
    assert not running.errors, running.errors


def test_submit_then_the_lambdas_record_appears_and_is_shown(
    worker: QueueWorker, sample_paths: dict[str, Path]
) -> None:
    upload = sample_paths["mel"].read_bytes()
    at = classify_upload(new_app(), "lesion.jpg", upload)
    assert "data: **AWS test**" in texts(at)
    scores = scores_table(at)
    assert len(scores) == 7
    assert sum(scores.values()) == pytest.approx(1.0)
    # What the endpoint answered for this very image reached the page, every class of it.
    expected = {LABEL_CODES[k]: v for k, v in endpoint_scores(prepare(upload).jpeg).items()}
    top = max(expected, key=lambda code: expected[code])
    assert f"Top class: **{NAMES[top]} ({top})**" in texts(at)
    assert scores == pytest.approx({f"{NAMES[c]} ({c})": v for c, v in expected.items()})

    at.switch_page("app_pages/history.py").run()
    assert len(opened_ids(at)) == 1


def test_a_record_that_never_arrives_ends_in_the_timeout_message(
    stack: str, monkeypatch: pytest.MonkeyPatch, sample_paths: dict[str, Path]
) -> None:
    monkeypatch.setenv("DERMASCAN_RESULT_TIMEOUT", "1")  # and no worker: nothing will answer
    at = classify_upload(new_app(), "lesion.jpg", sample_paths["nv"].read_bytes())
    assert "No result after 1 seconds" in texts(at)
    assert "cold start" in texts(at)

    at.switch_page("app_pages/history.py").run()
    assert "Being classified." in texts(at)  # the upload is safe, and listed
