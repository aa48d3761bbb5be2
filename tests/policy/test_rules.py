"""policy/: each rule rejects a deliberately bad resource and accepts the stack's own."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from policy import rules
from policy.pack import POLICIES
from tests.conftest import STACK_CONFIG, RecordingMocks, run_stack


@pytest.fixture(scope="module")
def stack() -> RecordingMocks:
    return run_stack(STACK_CONFIG)


def test_wildcard_iam_is_rejected_and_ours_accepted(stack: RecordingMocks) -> None:
    bad = {
        "Statement": [
            {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "S3", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"},
            {"Sid": "Any", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Sid": "Not", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        ]
    }
    found = rules.iam_wildcards(json.dumps(bad))
    assert len(found) == 5
    assert any("'*'" in f and f.startswith("All") for f in found)
    assert any("s3:*" in f for f in found)
    assert any(f.startswith("Any") for f in found)
    assert any(f.startswith("Not") for f in found)
    for policy in stack.of_type("aws:iam/rolePolicy:RolePolicy"):
        assert rules.iam_wildcards(policy.inputs["policy"]) == []


def test_full_access_policies_are_rejected() -> None:
    assert rules.full_access_policies(["arn:aws:iam::aws:policy/AmazonS3FullAccess"])
    assert rules.full_access_policies(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]) == []


def test_public_access_blocks_need_all_four_flags(stack: RecordingMocks) -> None:
    assert rules.public_access_block({"blockPublicAcls": True}) == [
        "blockPublicPolicy is not true",
        "ignorePublicAcls is not true",
        "restrictPublicBuckets is not true",
    ]
    for block in stack.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert rules.public_access_block(block.inputs) == []


def test_tls_only_policies(stack: RecordingMocks) -> None:
    assert not rules.denies_insecure_transport({"Statement": [{"Effect": "Allow"}]})
    for policy in stack.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        assert rules.denies_insecure_transport(policy.inputs["policy"])


def test_buckets_must_encrypt(stack: RecordingMocks) -> None:
    assert rules.bucket_encryption({"rules": []}) == ["the bucket has no default encryption"]
    for config in stack.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ):
        assert rules.bucket_encryption(config.inputs) == []


def test_log_groups_need_retention_and_a_key(stack: RecordingMocks) -> None:
    assert len(rules.log_group_retention({})) == 2
    for group in stack.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert rules.log_group_retention(group.inputs) == []


def test_queues_need_encryption_s3_can_use(stack: RecordingMocks) -> None:
    assert rules.queue_encryption({}) == ["the queue is not encrypted"]
    assert "alias/aws/sqs" in rules.queue_encryption({"kmsMasterKeyId": "alias/aws/sqs"})[0]
    for queue in stack.of_type("aws:sqs/queue:Queue"):
        assert rules.queue_encryption(queue.inputs) == []


def test_queues_need_dead_letters_that_outlive_them() -> None:
    assert rules.queues_have_dead_letters({"lonely": {}}, {}) == [
        "lonely has no dead-letter queue and is none"
    ]
    short: dict[str, dict[str, Any]] = {
        "q": {"redrivePolicy": json.dumps({"maxReceiveCount": 2}), "messageRetentionSeconds": 600},
        "dlq": {"messageRetentionSeconds": 60},
    }
    assert rules.queues_have_dead_letters(short, {"q": "dlq"}) == [
        "q: maxReceiveCount must be at least 5",
        "q: its DLQ must keep messages longer than it does",
    ]


# --- the pack's validators, with the arguments the Pulumi engine passes -------------------------


@dataclass
class Resource:
    resource_type: str
    props: dict[str, Any]
    name: str = "r"
    urn: str = "urn:r"
    property_dependencies: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class StackArgs:
    resources: list[Resource]


def violations(validate: Callable[..., None], args: Any) -> list[str]:
    found: list[str] = []
    validate(args, lambda message, urn=None: found.append(message))
    return found


def pack_policies() -> dict[str, Any]:
    return {p.name: p for p in POLICIES}


def test_the_pack_rejects_bad_resources_and_accepts_good_ones() -> None:
    policies = pack_policies()
    iam = policies["iam-least-privilege"].validate
    wildcard = Resource(
        "aws:iam/rolePolicy:RolePolicy",
        {
            "policy": json.dumps(
                {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
            )
        },
    )
    assert violations(iam, wildcard)
    attachment = Resource(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"},
    )
    assert violations(iam, attachment)

    retention = policies["log-retention"].validate
    assert violations(retention, Resource("aws:cloudwatch/logGroup:LogGroup", {}))
    assert not violations(
        retention,
        Resource("aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 30, "kmsKeyId": "k"}),
    )

    bucket = Resource("aws:s3/bucket:Bucket", {}, name="images", urn="urn:bucket")
    tls = policies["s3-tls-only"].validate
    assert violations(tls, StackArgs([bucket])) == [
        "bucket images has no policy denying requests without TLS"
    ]
    deny = json.dumps(
        {"Statement": [{"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    )
    policy = Resource(
        "aws:s3/bucketPolicy:BucketPolicy",
        {"policy": deny},
        property_dependencies={"bucket": [bucket]},
    )
    assert violations(tls, StackArgs([bucket, policy])) == []

    dead_letters = policies["sqs-dead-letters"].validate
    dlq = Resource("aws:sqs/queue:Queue", {"messageRetentionSeconds": 1209600}, name="dlq")
    queue = Resource(
        "aws:sqs/queue:Queue",
        {"redrivePolicy": json.dumps({"maxReceiveCount": 5}), "messageRetentionSeconds": 345600},
        name="uploads",
        property_dependencies={"redrivePolicy": [dlq]},
    )
    assert violations(dead_letters, StackArgs([queue, dlq])) == []
    assert violations(dead_letters, StackArgs([Resource("aws:sqs/queue:Queue", {}, name="lonely")]))
