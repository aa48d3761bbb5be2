"""Stacks run once per module under Pulumi's mocks; the tests read what they registered.

Physical names, ids and ARNs are random (the mocks autoname like Pulumi), so a test learns
each from the resource that owns it, through the helpers here, never by spelling it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import STACK_CONFIG, Recorded, RecordingMocks, run_stack

BUCKET = "aws:s3/bucket:Bucket"
QUEUE = "aws:sqs/queue:Queue"
KEY = "aws:kms/key:Key"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@pytest.fixture(scope="module")
def serverless() -> RecordingMocks:
    return run_stack(STACK_CONFIG)


@pytest.fixture(scope="module")
def realtime() -> RecordingMocks:
    return run_stack({**STACK_CONFIG, "dermascan:hosting": "realtime"})


def policy_of(resource: Recorded) -> dict[str, Any]:
    """A policy input, parsed."""
    document = resource.inputs["policy"]
    return dict(json.loads(document) if isinstance(document, str) else document)


def statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in document["Statement"] if s.get("Sid") == sid]
    return dict(found)


def for_bucket(mocks: RecordingMocks, type_token: str, bucket: Recorded) -> Recorded:
    """The companion resource (policy, encryption, ...) of one bucket, found by the bucket's id."""
    (found,) = [r for r in mocks.of_type(type_token) if r.inputs.get("bucket") == bucket.id]
    return found


def arn(mocks: RecordingMocks, type_token: str, name: str | None = None) -> str:
    """The ARN the mocks gave one resource."""
    return str(mocks.one(type_token, name).outputs["arn"])


def physical_name(mocks: RecordingMocks, type_token: str, name: str | None = None) -> str:
    """The physical name the mocks gave one resource (``bucket`` for a bucket)."""
    outputs = mocks.one(type_token, name).outputs
    return str(outputs["bucket"] if type_token == BUCKET else outputs["name"])


def endpoint(mocks: RecordingMocks) -> Recorded:
    """The stack's one SageMaker endpoint, whatever its logical name."""
    (found,) = mocks.of_type(ENDPOINT)
    return found


def assert_denies_insecure_transport(
    document: dict[str, Any], service: str, resources: list[str]
) -> None:
    """One statement denies everyone every action of ``service`` on ``resources`` without TLS.

    The whole of it matters: a deny for one account (``Principal``), for some actions (``s3:
    GetObject``), for part of the resource or under an extra condition leaves the rest reachable
    over plain HTTP [S3.5; SQS Developer Guide, "Amazon SQS security best practices"].
    """
    denies = [s for s in document["Statement"] if s.get("Effect") == "Deny"]
    assert len(denies) == 1, denies
    (deny,) = denies
    assert deny["Principal"] in ("*", {"AWS": "*"}), deny["Principal"]
    actions = deny["Action"] if isinstance(deny["Action"], list) else [deny["Action"]]
    assert actions in (["*"], [f"{service}:*"]), actions
    found = deny["Resource"] if isinstance(deny["Resource"], list) else [deny["Resource"]]
    assert sorted(found) == sorted(resources)
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert not {"NotPrincipal", "NotAction", "NotResource"} & set(deny), deny
