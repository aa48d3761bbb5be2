"""runtime.events: S3 notifications inside SQS messages, keys decoded exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from runtime.events import CreatedObject, MalformedMessage, created_objects


def notification(*records: dict[str, object]) -> str:
    return json.dumps({"Records": list(records)})


def s3_record(
    key: str, event: str = "ObjectCreated:Put", size: int | None = 123
) -> dict[str, object]:
    obj: dict[str, object] = {"key": key}
    if size is not None:
        obj["size"] = size
    return {
        "eventSource": "aws:s3",
        "eventName": event,
        "eventTime": "2026-11-26T10:00:00.123Z",
        "s3": {"bucket": {"name": "bucket"}, "object": obj},
    }


def test_the_test_event_is_no_upload() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "bucket"})
    assert created_objects(body) == []


def test_keys_are_url_decoded_once() -> None:
    body = notification(s3_record("uploads/local/my+photo%2B1+%C3%BC%2525.jpg"))
    (created,) = created_objects(body)
    assert created == CreatedObject(
        bucket="bucket",
        key="uploads/local/my photo+1 ü%25.jpg",  # "%2525" is a literal "%25" in the name
        size=123,
        event_time=datetime(2026, 11, 26, 10, 0, 0, 123000, tzinfo=UTC),
    )


def test_every_record_of_a_message_is_returned_and_deletions_are_skipped() -> None:
    body = notification(
        s3_record("uploads/local/a.jpg"),
        s3_record("uploads/local/old.jpg", event="ObjectRemoved:Delete"),
        s3_record("uploads/local/b.png", event="ObjectCreated:CompleteMultipartUpload", size=None),
    )
    assert [(c.key, c.size) for c in created_objects(body)] == [
        ("uploads/local/a.jpg", 123),
        ("uploads/local/b.png", None),
    ]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"Message": "an SNS envelope"}),
        notification({"eventSource": "aws:sqs"}),
        notification({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}),
        notification({**s3_record("k"), "eventTime": "yesterday"}),
    ],
    ids=["not-json", "not-object", "no-records", "not-s3", "no-s3-part", "bad-time"],
)
def test_malformed_messages_are_errors_not_silence(body: str) -> None:
    with pytest.raises(MalformedMessage):
        created_objects(body)
