"""Lambda entry point: SQS batches of S3 upload notifications, each upload run through the pipeline.

The module scope holds what lives as long as the execution environment: settings, Powertools
objects and AWS clients. ``handle_message`` is the per-message logic with its dependencies
passed in; ``handler`` only wires it to Powertools' partial batch processing, so one failed
message is retried alone and the others are acknowledged.

Each message gets a deadline from the Lambda context, ``DEADLINE_MARGIN_SECONDS`` before the
invocation ends: a message that could not finish by then is not started, and no endpoint
attempt starts that could outlive it, so the batch response always gets out in time and lists
every message not finished.
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from runtime.classifiers import Classifier, SageMakerClassifier, sagemaker_client_config
from runtime.deadlines import DeadlineExceeded, RequestDeadline
from runtime.events import created_objects
from runtime.pipeline import process_upload
from runtime.records import Prediction, UnreadableRecord
from runtime.settings import FunctionSettings
from runtime.stores import S3Store, Store

DEADLINE_MARGIN_SECONDS: Final = 2.0
"""Kept back from the invocation's remaining time: the last record write to S3, the batch
response and the metrics flush."""

settings = FunctionSettings.from_env(os.environ)
logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "dermascan"))
# With ReportBatchItemFailures, naming every message as failed retries them all just as
# raising would, and keeps the response one shape.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

s3 = boto3.client("s3")
sagemaker_runtime = boto3.client(
    "sagemaker-runtime",
    config=sagemaker_client_config(settings.invoke_max_attempts, settings.invoke_read_timeout),
)
deadline = RequestDeadline()
# A message is started only if at least one endpoint attempt fits before its deadline.
invoke_attempt_seconds = deadline.attach(sagemaker_runtime, "sagemaker-runtime.InvokeEndpoint")
store = S3Store(s3, settings.bucket)
classifier = SageMakerClassifier(
    sagemaker_runtime,
    settings.endpoint_name,
    model_id=settings.model_id,
    model_revision=settings.model_revision,
)


def handle_message(
    record: SQSRecord, *, store: Store, classifier: Classifier, settings: FunctionSettings
) -> None:
    """Process every upload one SQS message reports.

    Every upload in the message is attempted even if an earlier one fails; then the first
    failure is raised, so the message is retried (uploads already done are skipped on retry).

    Raises:
        MalformedMessage: the body is not an S3 notification.
        ClassifierError: a transient or configuration failure for one of its uploads.
    """
    failure: Exception | None = None
    for created in created_objects(record.body):
        if created.bucket != settings.bucket:
            logger.warning("ignored: object of another bucket", extra={"bucket": created.bucket})
            continue
        if not created.key.startswith(settings.layout.uploads):
            logger.warning("ignored: key outside the uploads prefix", extra={"key": created.key})
            continue
        try:
            prediction = process_upload(
                created.key,
                store=store,
                classifier=classifier,
                layout=settings.layout,
                limits=settings.limits,
                uploaded_at=created.event_time,
                on_new=record_metrics,
            )
        except UnreadableRecord as problem:
            # Permanent: every redelivery would meet the same record, until the dead-letter
            # queue. Reported once here (log and metric), acknowledged; someone must look.
            logger.error(
                "upload not processed: its record exists but cannot be read; fix or remove "
                "the record to have the upload classified again",
                extra={"key": created.key, "record": problem.key, "reason": problem.reason},
            )
            _count("UnreadableRecords", "source", "pipeline")
            continue
        except Exception as exc:  # re-raised below, after the other uploads
            logger.exception("upload failed; message will be retried", extra={"key": created.key})
            failure = failure or exc
            continue
        logger.info(
            "prediction stored",
            extra={
                "key": created.key,
                "status": prediction.status,
                "top": prediction.top,
                "error_code": prediction.error.code if prediction.error else None,
            },
        )
    if failure is not None:
        raise failure


def record_metrics(prediction: Prediction) -> None:
    """EMF metrics for a newly written record: counts by class or error code, and latency."""
    if prediction.status == "ok" and prediction.top is not None:
        _count("Predictions", "class", prediction.top)
        metrics.add_metric(
            "InferenceLatency", MetricUnit.Milliseconds, prediction.timings_ms.inference
        )
    elif prediction.error is not None:
        _count("PredictionErrors", "code", prediction.error.code)
    metrics.add_metric("PipelineLatency", MetricUnit.Milliseconds, prediction.timings_ms.total)


def _count(name: str, dimension: str, value: str) -> None:
    with single_metric(
        name=name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name=dimension, value=value)


def _record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    with deadline.until(time.monotonic() + remaining - DEADLINE_MARGIN_SECONDS):
        try:
            deadline.check(invoke_attempt_seconds, "this message")
        except DeadlineExceeded as exc:
            # At the start of an invocation this means the function's timeout is shorter than
            # one endpoint attempt (INVOKE_READ_TIMEOUT_SECONDS + connect): nothing would run.
            logger.warning(
                "message not started: too little time left; it will be retried",
                extra={"reason": str(exc), "invocation_remaining_s": remaining},
            )
            raise
        handle_message(record, store=store, classifier=classifier, settings=settings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process an SQS batch; report failed messages so only they are retried."""
    metrics.add_metric("Messages", MetricUnit.Count, len(event.get("Records", [])))
    return dict(
        process_partial_response(
            event=event, record_handler=_record_handler, processor=processor, context=context
        )
    )
