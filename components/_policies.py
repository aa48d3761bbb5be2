"""Policy documents as plain data: built and unit-tested without Pulumi, serialised by callers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

Statement = dict[str, Any]
Document = dict[str, Any]


def document(*statements: Statement) -> Document:
    """An IAM policy document."""
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: Sequence[str], resources: Sequence[str], sid: str) -> Statement:
    """An Allow statement (actions and resources sorted, so documents are stable)."""
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": sorted(resources)}


def assume_role(service: str, account_id: str) -> Document:
    """Trust policy letting one AWS service assume a role, for this account only."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


def tls_only_bucket_policy(bucket_arn: str, *extra: Statement) -> Document:
    """Deny every request to the bucket that does not use TLS [S3.5]."""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        *extra,
    )


def tls_only_queue_policy(queue_arn: str, *extra: Statement) -> Document:
    """Deny every request to the queue that does not use TLS (SQS Developer Guide, "Amazon SQS
    security best practices", "Enforce encryption of data in transit")."""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        *extra,
    )


def access_log_delivery(log_bucket_arn: str, source_bucket_arn: str, account_id: str) -> Statement:
    """Lets S3's logging service write access logs for one bucket of this account."""
    return {
        "Sid": "S3ServerAccessLogs",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{log_bucket_arn}/*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": source_bucket_arn},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


def queue_policy_for_bucket(queue_arn: str, bucket_arn: str, account_id: str) -> Document:
    """Only S3, for this bucket of this account, may send to the queue; only over TLS."""
    return tls_only_queue_policy(
        queue_arn,
        {
            "Sid": "S3UploadNotifications",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {
                "ArnEquals": {"aws:SourceArn": bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        },
    )


def kms_key_policy(account_id: str, region: str) -> Document:
    """The stack key's policy: the account administers it; named services may use it.

    In a key policy ``Resource: "*"`` means this key. CloudWatch Logs may use it only for log
    groups of this account; CloudWatch alarms and Budgets only to publish to encrypted topics.
    """
    root = f"arn:aws:iam::{account_id}:root"
    return document(
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogsEncrypt",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": [
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:aws:logs:{region}:{account_id}:log-group:*"
                    )
                }
            },
        },
        {
            "Sid": "AlarmsAndBudgetsPublishToEncryptedTopics",
            "Effect": "Allow",
            "Principal": {"Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    )


def topic_policy(topic_arn: str, account_id: str) -> Document:
    """CloudWatch alarms and Budgets of this account may publish to the alerts topic."""
    return document(
        {
            "Sid": "AlarmsAndBudgetsPublish",
            "Effect": "Allow",
            "Principal": {"Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


def function_policy(
    *,
    bucket_arn: str,
    read_prefixes: Sequence[str],
    write_prefixes: Sequence[str],
    queue_arn: str,
    endpoint_arn: str,
    key_arn: str,
    log_group_arn: str,
) -> Document:
    """What the Lambda function may do, and nothing more.

    It reads what it is told of and the case details (``read_prefixes``), and reads and writes
    its own results (``write_prefixes``: reading them keeps it idempotent under at-least-once
    delivery); it lists the bucket only so a missing key reads as 404, not 403. X-Ray's two
    write actions have no resource-level permissions, hence their ``*``.
    """
    reads = [f"{bucket_arn}/{prefix}*" for prefix in read_prefixes]
    results = [f"{bucket_arn}/{prefix}*" for prefix in write_prefixes]
    return document(
        allow(["s3:GetObject"], sorted({*reads, *results}), "ReadInputsAndResults"),
        allow(["s3:PutObject"], results, "WriteResults"),
        allow(["s3:ListBucket"], [bucket_arn], "MissingKeysAre404"),
        allow(["sagemaker:InvokeEndpoint"], [endpoint_arn], "InvokeTheEndpoint"),
        allow(
            [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            [queue_arn],
            "ConsumeTheQueue",
        ),
        allow(["kms:Decrypt", "kms:GenerateDataKey"], [key_arn], "UseTheStackKey"),
        allow(
            ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"], "WriteOwnLogs"
        ),
        allow(["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"], "Tracing"),
    )


def app_policy(
    *,
    bucket_arn: str,
    prefixes: Sequence[str],
    write_prefixes: Sequence[str],
    key_arn: str,
) -> Document:
    """What the app (whoever runs it: a clinic's server role, a person's SSO role) may do.

    It reads everything of the layout (``prefixes``), writes only what users give
    (``write_prefixes``: uploads, case details, explanation requests, outcomes; never a
    record, so nobody can forge a prediction), and deletes every version of anything of the
    layout, because deleting a result for privacy means all of it. Listing the bucket and its
    versions pages the history, finds what to delete, and makes a missing key a 404.
    """
    objects = sorted(f"{bucket_arn}/{prefix}*" for prefix in prefixes)
    return document(
        allow(["s3:GetObject"], objects, "ReadTheLayout"),
        allow(["s3:PutObject"], sorted(f"{bucket_arn}/{p}*" for p in write_prefixes), "Write"),
        allow(["s3:DeleteObject", "s3:DeleteObjectVersion"], objects, "DeleteEveryVersion"),
        allow(["s3:ListBucket", "s3:ListBucketVersions"], [bucket_arn], "ListTheBucket"),
        allow(["kms:Decrypt", "kms:GenerateDataKey"], [key_arn], "UseTheStackKey"),
    )


def model_policy(
    *,
    region: str,
    account_id: str,
    log_group: str,
    key_arn: str,
    image_repository_arn: str,
    model_data_arn: str | None,
) -> Document:
    """What SageMaker may do for the model: pull its image, write its endpoint's logs, use the
    key, read the weights.

    The execution role is how SageMaker accesses "model artifacts and docker image" (SageMaker
    API Reference, CreateModel, ``ExecutionRoleArn``; the developer guide's "CreateModel API:
    Execution Role Permissions" grants the same ECR pulls). The pull is scoped to the image's
    repository; ``ecr:GetAuthorizationToken`` has no resource-level permissions, hence its ``*``.

    Args:
        log_group: the endpoint's log group (``/aws/sagemaker/Endpoints/<name>``), which the
            stack creates; SageMaker may still call CreateLogGroup on it.
        image_repository_arn: the ECR repository of the inference image (``ecr_repository_arn``).
    """
    group = f"arn:aws:logs:{region}:{account_id}:log-group:{log_group}"
    statements = [
        allow(
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [image_repository_arn],
            "PullTheInferenceImage",
        ),
        allow(["ecr:GetAuthorizationToken"], ["*"], "LogInToEcr"),
        allow(
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [group, f"{group}:log-stream:*"],
            "WriteEndpointLogs",
        ),
        allow(["kms:Decrypt"], [key_arn], "DecryptWithTheStackKey"),
    ]
    if model_data_arn:
        statements.append(allow(["s3:GetObject"], [model_data_arn], "ReadModelWeights"))
    return document(*statements)


_IMAGE_URI = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<cn>\.cn)?"
    r"/(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?:[:@].+)?"
)


def ecr_repository_arn(image_uri: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`` -> the repository's ARN.

    Raises:
        ValueError: the URI is not an ECR image URI.
    """
    match = _IMAGE_URI.fullmatch(image_uri)
    if match is None:
        raise ValueError(f"expected an ECR image URI, got {image_uri!r}")
    region = match["region"]
    partition = "aws-cn" if match["cn"] else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:ecr:{region}:{match['account']}:repository/{match['repository']}"


def s3_object_arn(url: str) -> str:
    """``s3://bucket/key`` -> ``arn:aws:s3:::bucket/key``."""
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise ValueError(f"expected s3://bucket/key, got {url!r}")
    return "arn:aws:s3:::" + url[5:]
