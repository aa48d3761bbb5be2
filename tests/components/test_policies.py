"""components/_policies.py: the policy documents, checked without Pulumi."""

from __future__ import annotations

import pytest

from components import _policies
from policy import rules


def test_the_function_policy_has_no_wildcards_beyond_x_ray() -> None:
    document = _policies.function_policy(
        bucket_arn="arn:aws:s3:::b",
        uploads_prefix="uploads/",
        result_prefixes=("predictions/", "thumbnails/"),
        queue_arn="arn:aws:sqs:r:1:q",
        endpoint_arn="arn:aws:sagemaker:r:1:endpoint/e",
        key_arn="arn:aws:kms:r:1:key/k",
        log_group_arn="arn:aws:logs:r:1:log-group:g",
    )
    assert rules.iam_wildcards(document) == []
    (tracing,) = [s for s in document["Statement"] if s["Resource"] == ["*"]]
    assert tracing["Action"] == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def test_trust_policies_are_limited_to_this_account() -> None:
    (trust,) = _policies.assume_role("lambda.amazonaws.com", "123456789012")["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_s3_urls_become_object_arns() -> None:
    assert _policies.s3_object_arn("s3://models/a/b.tar.gz") == "arn:aws:s3:::models/a/b.tar.gz"
    with pytest.raises(ValueError, match="s3://bucket/key"):
        _policies.s3_object_arn("s3://models")
