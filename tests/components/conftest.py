"""Stacks run once per module under Pulumi's mocks; the tests read what they registered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import STACK_CONFIG, Recorded, RecordingMocks, run_stack


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
    """The companion resource (policy, encryption, ...) of one bucket."""
    (found,) = [
        r for r in mocks.of_type(type_token) if r.inputs.get("bucket") == f"{bucket.name}-id"
    ]
    return found
