"""dermascan's infrastructure rules as pure functions over resource properties.

The policy pack (``__main__.py`` here) applies them during ``pulumi preview``; the tests apply
them to the stack's captured inputs. Each returns the violations it finds, as sentences.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

# Actions that have no resource-level permissions: "*" is the only resource they accept.
UNSCOPABLE_ACTIONS = frozenset(
    {"ecr:GetAuthorizationToken", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(policy: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    document = json.loads(policy) if isinstance(policy, str) else policy
    return [s for s in _as_list(document.get("Statement", [])) if isinstance(s, Mapping)]


def iam_wildcards(policy: str | Mapping[str, Any]) -> list[str]:
    """Allow statements with ``*`` or ``service:*`` actions, NotAction, or ``Resource: "*"``
    for actions that can be scoped."""
    found = []
    for statement in _statements(policy):
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "a statement")
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{sid} uses NotAction/NotResource")
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        for action in actions:
            if action == "*" or action.endswith(":*"):
                found.append(f"{sid} allows the wildcard action {action!r}")
        if "*" in _as_list(statement.get("Resource", [])):
            scopable = [a for a in actions if a not in UNSCOPABLE_ACTIONS]
            if scopable:
                found.append(f"{sid} allows {scopable} on Resource '*'")
    return found


def full_access_policies(policy_arns: Iterable[str]) -> list[str]:
    """AWS-managed *FullAccess policies: never attached here."""
    return [f"{arn} is a FullAccess policy" for arn in policy_arns if arn.endswith("FullAccess")]


def public_access_block(props: Mapping[str, Any]) -> list[str]:
    """All four public-access-block flags must be true [CKV_AWS_53-56, S3.8]."""
    return [f"{flag} is not true" for flag in PUBLIC_ACCESS_FLAGS if props.get(flag) is not True]


def denies_insecure_transport(policy: str | Mapping[str, Any]) -> bool:
    """Whether a bucket policy denies requests without TLS [S3.5]."""
    for statement in _statements(policy):
        condition = statement.get("Condition", {}).get("Bool", {})
        if (
            statement.get("Effect") == "Deny"
            and str(condition.get("aws:SecureTransport")).lower() == "false"
        ):
            return True
    return False


def bucket_encryption(props: Mapping[str, Any]) -> list[str]:
    """Default encryption must be set (SSE-KMS, or SSE-S3 where KMS is impossible)."""
    rules = props.get("rules") or []
    algorithms = [
        (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") for rule in rules
    ]
    if not any(a in ("aws:kms", "aws:kms:dsse", "AES256") for a in algorithms):
        return ["the bucket has no default encryption"]
    return []


def log_group_retention(props: Mapping[str, Any]) -> list[str]:
    """Log groups keep logs for a set time, encrypted with a key of ours [CKV_AWS_66/158]."""
    problems = []
    if not props.get("retentionInDays"):
        problems.append("the log group keeps logs forever (no retentionInDays)")
    if not props.get("kmsKeyId"):
        problems.append("the log group is not encrypted with a KMS key")
    return problems


def queue_encryption(props: Mapping[str, Any]) -> list[str]:
    """Queues are encrypted with SSE-SQS or a key S3 can use (not alias/aws/sqs) [CKV_AWS_27]."""
    key = props.get("kmsMasterKeyId")
    if key == "alias/aws/sqs":
        return ["alias/aws/sqs cannot be used by S3 notifications; use SSE-SQS or a CMK"]
    if not key and props.get("sqsManagedSseEnabled") is not True:
        return ["the queue is not encrypted"]
    return []


def queues_have_dead_letters(
    queues: Mapping[str, Mapping[str, Any]], dead_letter_of: Mapping[str, str]
) -> list[str]:
    """Every queue has a DLQ (``maxReceiveCount`` >= 5) or is one, and a DLQ outlives its source.

    Args:
        queues: queue name -> its properties.
        dead_letter_of: source queue name -> its DLQ's name (from the redrive dependency).
    """
    default_retention = 345_600  # SQS's default, 4 days
    problems = []
    dead_letter_queues = set(dead_letter_of.values())
    for name, props in queues.items():
        if name in dead_letter_of:
            redrive = props.get("redrivePolicy")
            if isinstance(redrive, str) and int(json.loads(redrive).get("maxReceiveCount", 0)) < 5:
                problems.append(f"{name}: maxReceiveCount must be at least 5")
            dlq = queues.get(dead_letter_of[name], {})
            if int(dlq.get("messageRetentionSeconds", default_retention)) <= int(
                props.get("messageRetentionSeconds", default_retention)
            ):
                problems.append(f"{name}: its DLQ must keep messages longer than it does")
        elif name not in dead_letter_queues:
            problems.append(f"{name} has no dead-letter queue and is none")
    return problems
