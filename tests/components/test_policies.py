"""components/_policies.py: the policy documents, checked without Pulumi."""

from __future__ import annotations

import pytest

from components import _policies
from policy import rules


def test_the_function_policy_has_no_wildcards_beyond_x_ray() -> None:
    document = _policies.function_policy(
        bucket_arn="arn:aws:s3:::b",
        read_prefixes=("uploads/", "cases/"),
        write_prefixes=("predictions/", "thumbnails/"),
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


def test_ecr_image_uris_become_repository_arns() -> None:
    assert (
        _policies.ecr_repository_arn(
            "763104351884.dkr.ecr.eu-west-1.amazonaws.com/"
            "huggingface-pytorch-inference:2.6.0-transformers4.51.3-cpu-py312-ubuntu22.04"
        )
        == "arn:aws:ecr:eu-west-1:763104351884:repository/huggingface-pytorch-inference"
    )
    assert (
        _policies.ecr_repository_arn(
            "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/huggingface-pytorch-inference:x"
        )
        == "arn:aws-cn:ecr:cn-north-1:727897471807:repository/huggingface-pytorch-inference"
    )
    assert (
        _policies.ecr_repository_arn(
            "446045086412.dkr.ecr.us-gov-east-1.amazonaws.com/team/model@sha256:0f"
        )
        == "arn:aws-us-gov:ecr:us-gov-east-1:446045086412:repository/team/model"
    )
    with pytest.raises(ValueError, match="ECR image URI"):
        _policies.ecr_repository_arn("docker.io/library/python:3.12")
