"""Reads the S3 notifications that SQS messages carry: which objects were created, keys decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus


class MalformedMessage(ValueError):
    """An SQS message body that is not an S3 notification. Retrying will not fix it; the
    handler fails it anyway so it ends in the dead-letter queue, where someone looks."""


@dataclass(frozen=True)
class CreatedObject:
    """One object-created notification."""

    bucket: str
    key: str
    """The object key, URL-decoded (S3 sends ``uploads%2Fmy+photo.jpg``)."""
    size: int | None
    event_time: datetime | None
    """When S3 stored the object (the notification's ``eventTime``)."""


def created_objects(body: str) -> list[CreatedObject]:
    """The objects an S3 notification message reports as created.

    Returns an empty list for the ``s3:TestEvent`` S3 sends when notifications are first
    configured, and skips records of other event types (deletions, restores).

    Raises:
        MalformedMessage: the body is not JSON or not shaped like an S3 notification.
    """
    try:
        message: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"message body is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise MalformedMessage("message body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise MalformedMessage("message body has no S3 'Records' list")
    created = []
    for record in records:
        try:
            if record.get("eventSource") != "aws:s3":
                raise MalformedMessage(f"not an S3 record: {record.get('eventSource')!r}")
            if not str(record["eventName"]).startswith("ObjectCreated:"):
                continue
            s3 = record["s3"]
            size = s3["object"].get("size")
            created.append(
                CreatedObject(
                    bucket=str(s3["bucket"]["name"]),
                    # Decoded exactly once: a literal "%" in a file name arrives as "%25".
                    key=unquote_plus(str(s3["object"]["key"])),
                    size=int(size) if size is not None else None,
                    event_time=_event_time(record.get("eventTime")),
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, MalformedMessage):
                raise
            raise MalformedMessage(f"malformed S3 record: {exc!r}") from exc
    return created


def _event_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)  # ValueError: a malformed record
    if moment.tzinfo is None:
        raise MalformedMessage(f"eventTime has no time zone: {value!r}")
    return moment
