"""Lambda entry point: SQS batches of S3 notifications, each new object routed by its prefix.

Three prefixes of the layout are notified (``KeyLayout.notified``): an upload is classified
(``pipeline.process_upload``), an explanation request is answered (``explaining.explain``),
and a confirmed outcome is counted as metrics (does the model's top class agree with it?).
Anything else is logged and dropped.

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

from runtime.classifiers import BatchClassifier, SageMakerClassifier, sagemaker_client_config
from runtime.deadlines import DeadlineExceeded, RequestDeadline
from runtime.events import CreatedObject, created_objects
from runtime.explain import ExplanationError
from runtime.explaining import Explanation, ResultDeleted, explain
from runtime.keys import InvalidKey
from runtime.outcomes import ConfirmedOutcome, InvalidOutcome, agrees
from runtime.pipeline import process_upload
from runtime.records import Prediction, UnreadableRecord, read_stored
from runtime.settings import FunctionSettings
from runtime.stores import ObjectNotFound, ObjectTooLarge, S3Store, Store

DEADLINE_MARGIN_SECONDS: Final = 2.0
"""Kept back from the invocation's remaining time: the last record write to S3, the batch
response and the metrics flush."""
MAX_OUTCOME_BYTES: Final = 4096
"""A confirmed outcome is ~250 bytes: anything far larger is not one."""

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
    record: SQSRecord, *, store: Store, classifier: BatchClassifier, settings: FunctionSettings
) -> None:
    """Handle every object one SQS message reports as created, by its prefix.

    Every object in the message is attempted even if an earlier one fails; then the first
    failure is raised, so the message is retried (work already done is skipped on retry:
    records and explanations are written at most once).

    Raises:
        MalformedMessage: the body is not an S3 notification.
        ClassifierError: a transient or configuration failure for one of its objects.
    """
    failure: Exception | None = None
    for created in created_objects(record.body):
        if created.bucket != settings.bucket:
            logger.warning("ignored: object of another bucket", extra={"bucket": created.bucket})
            continue
        kind = settings.layout.notified_kind(created.key)
        try:
            if kind == "uploads":
                classify_upload(created, store=store, classifier=classifier, settings=settings)
            elif kind == "explain_requests":
                answer_explain_request(
                    created.key, store=store, classifier=classifier, settings=settings
                )
            elif kind == "outcomes":
                count_outcome(created.key, store=store, settings=settings)
            else:
                # Retrying cannot give it a meaning: acknowledged, and visible in the log.
                logger.warning(
                    "ignored: key outside the notified prefixes", extra={"key": created.key}
                )
        except Exception as exc:  # re-raised below, after the other objects
            logger.exception(
                "object failed; message will be retried", extra={"key": created.key, "kind": kind}
            )
            failure = failure or exc
    if failure is not None:
        raise failure


def classify_upload(
    created: CreatedObject, *, store: Store, classifier: BatchClassifier, settings: FunctionSettings
) -> None:
    """Classify one upload and store its record (``pipeline.process_upload``).

    Raises:
        ClassifierError: a transient or configuration failure; retry the message.
    """
    stored: list[Prediction] = []

    def on_new(prediction: Prediction) -> None:
        stored.append(prediction)
        record_metrics(prediction)

    try:
        prediction = process_upload(
            created.key,
            store=store,
            classifier=classifier,
            layout=settings.layout,
            limits=settings.limits,
            uploaded_at=created.event_time,
            on_new=on_new,
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
        return
    if prediction.error is not None and prediction.error.code == "upload_missing":
        # Deleted by its owner or expired by the retention rule before it was classified:
        # nothing is stored, so this count is the only trace (a backlog outliving uploads).
        _count("UploadsGoneBeforeClassified", "stage", "read")
    logger.info(
        # Nothing new: stored by an earlier delivery, or the upload was deleted meanwhile.
        "prediction stored" if stored else "nothing new stored",
        extra={
            "key": created.key,
            "status": prediction.status,
            "top": prediction.top,
            "error_code": prediction.error.code if prediction.error else None,
        },
    )


def answer_explain_request(
    key: str, *, store: Store, classifier: BatchClassifier, settings: FunctionSettings
) -> None:
    """Explain the result an ``explain-requests/<owner>/<id>.json`` key names, at most once.

    A request that cannot be answered (a malformed key, no such result, an error record, a lost
    model input) is logged, counted and acknowledged: asking again would meet the same answer.

    Raises:
        ClassifierError: the endpoint failed; nothing was stored, retry the message.
    """
    try:
        owner, prediction_id = settings.layout.parse_explain_request_key(key)
        occlusion = explain(
            store, settings.layout, classifier, owner, prediction_id, on_new=explanation_metrics
        )
    except ResultDeleted:
        logger.info("explanation not stored: its result was deleted meanwhile", extra={"key": key})
        return
    except (InvalidKey, ExplanationError) as problem:
        logger.error("explanation not made", extra={"key": key, "reason": str(problem)})
        _count("ExplanationsRefused", "reason", type(problem).__name__)
        return
    logger.info(
        "explanation stored",
        extra={"key": key, "target": occlusion.target, "hottest": occlusion.hottest(1)},
    )


def count_outcome(key: str, *, store: Store, settings: FunctionSettings) -> None:
    """Emit the metrics of one confirmed outcome: ``OutcomeConfirmed`` (1), and
    ``OutcomeAgreement`` (1 if the model's top class is the diagnosis, else 0) when agreement
    is defined (not for ``other``, nor for a result without scores; see ``outcomes.agrees``).

    Delivery is at least once, so a redelivered notification counts its outcome again; the
    function may not write under ``outcomes/`` to mark it counted, and a rare double count
    moves a rate far less than the clinic's own small numbers do. ``evaluate --confirmed``
    is the exact figure; these metrics are the live trend.
    """
    try:
        owner, prediction_id, _ = settings.layout.parse_outcome_key(key)
        outcome = ConfirmedOutcome.from_json(store.get(key, max_bytes=MAX_OUTCOME_BYTES))
        if (outcome.owner, outcome.prediction_id) != (owner, prediction_id):
            raise InvalidOutcome(f"{key} holds the outcome of another result")
    except (InvalidKey, InvalidOutcome, ObjectNotFound, ObjectTooLarge) as problem:
        # Permanent (a deleted outcome stays deleted): acknowledged, visible in the log.
        logger.error("outcome not counted", extra={"key": key, "reason": str(problem)})
        _count("OutcomesUnreadable", "source", "outcomes")
        return
    prediction = _prediction_of(store, settings, owner, prediction_id)
    agreement = agrees(outcome, prediction) if prediction is not None else None
    _metric("OutcomeConfirmed", 1)
    if agreement is not None:
        _metric("OutcomeAgreement", 1 if agreement else 0)
    logger.info(
        "outcome counted",
        extra={"key": key, "diagnosis": outcome.diagnosis, "agreement": agreement},
    )


def _prediction_of(
    store: Store, settings: FunctionSettings, owner: str, prediction_id: str
) -> Prediction | None:
    key = settings.layout.prediction_key(owner, prediction_id)
    try:
        return read_stored(key, store.get(key))
    except (ObjectNotFound, UnreadableRecord) as problem:
        logger.warning(
            "outcome without a readable record: counted, agreement unknown",
            extra={"record": key, "reason": str(problem)},
        )
        return None


def explanation_metrics(explanation: Explanation) -> None:
    """EMF metrics for a newly stored explanation: a count and how long it took."""
    _metric("Explanations", 1)
    _metric("ExplanationDuration", explanation.seconds * 1000, MetricUnit.Milliseconds)


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


def _metric(name: str, value: float, unit: MetricUnit = MetricUnit.Count) -> None:
    with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace):
        pass  # flushed on leaving: one EMF line, with the service dimension only


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
