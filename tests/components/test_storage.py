"""components/storage.py: the posture of every bucket, the key, the queues and the notification."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from mypy_boto3_s3.type_defs import FilterRuleTypeDef, QueueConfigurationTypeDef

from components.storage import StorageArgs
from policy import rules
from runtime.events import created_objects
from runtime.keys import KeyLayout
from tests.components.conftest import (
    BUCKET,
    KEY,
    QUEUE,
    arn,
    assert_denies_insecure_transport,
    for_bucket,
    policy_of,
    statement,
)
from tests.conftest import STACK_CONFIG, RecordingMocks, run_stack


def test_every_bucket_blocks_all_public_access(serverless: RecordingMocks) -> None:
    for bucket in serverless.of_type(BUCKET):
        block = for_bucket(
            serverless, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket
        )
        assert rules.public_access_block(block.inputs) == [], bucket.name


def test_every_bucket_denies_requests_without_tls(serverless: RecordingMocks) -> None:
    for bucket in serverless.of_type(BUCKET):
        policy = for_bucket(serverless, "aws:s3/bucketPolicy:BucketPolicy", bucket)
        assert rules.denies_insecure_transport(policy.inputs["policy"]), bucket.name
        bucket_arn = bucket.outputs["arn"]
        assert_denies_insecure_transport(policy_of(policy), "s3", [bucket_arn, f"{bucket_arn}/*"])


def test_every_queue_denies_requests_without_tls(serverless: RecordingMocks) -> None:
    queues = serverless.of_type(QUEUE)
    assert {q.name for q in queues} == {"storage-uploads", "storage-uploads-dlq"}
    for queue in queues:
        (policy,) = [
            p
            for p in serverless.of_type("aws:sqs/queuePolicy:QueuePolicy")
            if p.inputs["queueUrl"] == queue.outputs["url"]
        ]
        assert_denies_insecure_transport(policy_of(policy), "sqs", [queue.outputs["arn"]])


def test_every_bucket_is_versioned_and_owner_enforced(serverless: RecordingMocks) -> None:
    for bucket in serverless.of_type(BUCKET):
        versioning = for_bucket(serverless, "aws:s3/bucketVersioning:BucketVersioning", bucket)
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled", bucket.name
        ownership = for_bucket(
            serverless, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket
        )
        assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced", bucket.name
        assert bucket.inputs.get("forceDestroy") is False, bucket.name


def test_images_are_encrypted_with_the_stacks_key_and_a_bucket_key(
    serverless: RecordingMocks,
) -> None:
    bucket = serverless.one(BUCKET, "storage-images")
    (rule,) = for_bucket(
        serverless,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        bucket,
    ).inputs["rules"]
    key = serverless.one(KEY, "storage-key")
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.outputs["arn"],
    }
    assert rule["bucketKeyEnabled"] is True
    assert key.inputs["enableKeyRotation"] is True


def test_the_access_log_bucket_uses_sse_s3_because_log_delivery_cannot_use_kms(
    serverless: RecordingMocks,
) -> None:
    logs = serverless.one(BUCKET, "storage-access-logs")
    (rule,) = for_bucket(
        serverless,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        logs,
    ).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    delivery = statement(
        policy_of(for_bucket(serverless, "aws:s3/bucketPolicy:BucketPolicy", logs)),
        "S3ServerAccessLogs",
    )
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"] == arn(
        serverless, BUCKET, "storage-images"
    )


def test_image_access_is_logged_to_the_log_bucket(serverless: RecordingMocks) -> None:
    logging = serverless.one("aws:s3/bucketLogging:BucketLogging")
    assert logging.inputs["bucket"] == serverless.one(BUCKET, "storage-images").id
    assert logging.inputs["targetBucket"] == serverless.one(BUCKET, "storage-access-logs").id


def test_uploads_results_and_old_versions_expire(serverless: RecordingMocks) -> None:
    bucket = serverless.one(BUCKET, "storage-images")
    lifecycle = for_bucket(
        serverless, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket
    )
    rules_by_prefix = {r["filter"]["prefix"]: r for r in lifecycle.inputs["rules"]}
    # Everything of a result expires with it: what the app and the function write alike.
    assert set(rules_by_prefix) == set(KeyLayout().prefixes().values())
    assert {"uploads/", "predictions/", "outcomes/", "explanations/"} <= set(rules_by_prefix)
    for rule in rules_by_prefix.values():
        assert rule["status"] == "Enabled"
        assert rule["expiration"]["days"] == 30
        assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 7


def test_the_retention_is_configurable() -> None:
    mocks = run_stack(
        {**STACK_CONFIG, "dermascan:uploadRetentionDays": "7", "dermascan:queueRetentionDays": "7"}
    )
    bucket = mocks.one(BUCKET, "storage-images")
    lifecycle = for_bucket(
        mocks, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket
    )
    assert {r["expiration"]["days"] for r in lifecycle.inputs["rules"]} == {7}


def test_queues_are_encrypted_and_dead_letters_outlive_their_source(
    serverless: RecordingMocks,
) -> None:
    queue = serverless.one(QUEUE, "storage-uploads")
    dlq = serverless.one(QUEUE, "storage-uploads-dlq")
    for q in (queue, dlq):
        assert rules.queue_encryption(q.inputs) == [], q.name
    redrive = json.loads(queue.inputs["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": dlq.outputs["arn"],
        "maxReceiveCount": 5,
    }
    assert dlq.inputs["messageRetentionSeconds"] == 14 * 24 * 3600  # the SQS maximum
    assert queue.inputs["messageRetentionSeconds"] == 14 * 24 * 3600  # overload never deletes
    assert (
        rules.queues_have_dead_letters(
            {q.name: q.inputs for q in (queue, dlq)}, {queue.name: dlq.name}
        )
        == []
    )


def test_the_queue_retention_is_configurable() -> None:
    mocks = run_stack({**STACK_CONFIG, "dermascan:queueRetentionDays": "7"})
    queue = mocks.one(QUEUE, "storage-uploads").inputs
    assert queue["messageRetentionSeconds"] == 7 * 24 * 3600


def test_only_s3_from_this_bucket_and_account_may_send_to_the_queue(
    serverless: RecordingMocks,
) -> None:
    document = policy_of(
        serverless.one("aws:sqs/queuePolicy:QueuePolicy", "storage-uploads-policy")
    )
    (only,) = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert only["Principal"] == {"Service": "s3.amazonaws.com"}
    assert only["Action"] == "sqs:SendMessage"
    assert only["Resource"] == arn(serverless, QUEUE, "storage-uploads")
    assert only["Condition"] == {
        "ArnEquals": {"aws:SourceArn": arn(serverless, BUCKET, "storage-images")},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }


def test_every_notified_prefix_has_its_own_queue_configuration_and_results_none(
    serverless: RecordingMocks,
) -> None:
    notification = serverless.one("aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs["bucket"] == serverless.one(BUCKET, "storage-images").id
    queues = notification.inputs["queues"]
    assert {q["id"]: q["filterPrefix"] for q in queues} == {
        "uploads": "uploads/",
        "explain-requests": "explain-requests/",
        "outcomes": "outcomes/",
    }
    for queue in queues:
        assert "filterSuffix" not in queue  # a .bin upload must get its error record too
        assert queue["events"] == ["s3:ObjectCreated:*"]
        assert queue["queueArn"] == arn(serverless, QUEUE, "storage-uploads")


def test_the_stacks_notification_on_moto_announces_what_the_function_handles_and_no_result(
    serverless: RecordingMocks, mocked_aws: None
) -> None:
    """The notification the stack declares, applied to moto's S3 -> SQS: which keys arrive."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    s3.create_bucket(Bucket="images", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    configurations: list[QueueConfigurationTypeDef] = []
    for queue in serverless.one("aws:s3/bucketNotification:BucketNotification").inputs["queues"]:
        rules: list[FilterRuleTypeDef] = [{"Name": "prefix", "Value": queue["filterPrefix"]}]
        if "filterSuffix" in queue:
            rules.append({"Name": "suffix", "Value": queue["filterSuffix"]})
        configurations.append(
            {
                "QueueArn": arn["QueueArn"],
                "Events": queue["events"],
                "Filter": {"Key": {"FilterRules": rules}},
            }
        )
    s3.put_bucket_notification_configuration(
        Bucket="images", NotificationConfiguration={"QueueConfigurations": configurations}
    )
    keys = [
        "uploads/shared/8204265000000aaaaaaaaaa.bin",
        "uploads/shared/8204265000000aaaaaaaaab.jpg",
        "uploads/shared/scan.JPEG",
        "uploads/shared/no-extension",
        "predictions/shared/8204265000000aaaaaaaaab.json",
        "thumbnails/shared/8204265000000aaaaaaaaab.jpg",
        "explain-requests/shared/8204265000000aaaaaaaaab.json",
        "explanations/shared/8204265000000aaaaaaaaab.png",
        "explanations/shared/8204265000000aaaaaaaaab.json",
        "outcomes/shared/8204265000000aaaaaaaaab/8204264000000aaaaaaaaab.json",
        "cases/shared/8204265000000aaaaaaaaab.json",
        "references/shared/0123456789abcdef0123456789abcdef/8204265000000aaaaaaaaab",
    ]
    for key in keys:
        s3.put_object(Bucket="images", Key=key, Body=b"x")

    announced = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            announced += [key.key for key in created_objects(message["Body"])]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    notified = ("uploads/", "explain-requests/", "outcomes/")
    assert sorted(announced) == sorted(key for key in keys if key.startswith(notified))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_receive_count": 3}, "max_receive_count"),
        ({"queue_retention_days": 15}, "queue_retention_days"),
        ({"queue_retention_days": 0}, "queue_retention_days"),
        ({"upload_retention_days": 0}, "upload_retention_days"),
        # An upload must outlive the longest its notification can wait.
        ({"upload_retention_days": 7}, "must not exceed upload_retention_days"),
    ],
)
def test_storage_args_refuse_unsafe_values(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        StorageArgs(account_id="1", region="eu-west-1", **changes)  # type: ignore[arg-type]


DATA = (
    BUCKET,
    KEY,
    "aws:kms/alias:Alias",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLogging:BucketLogging",
)


def test_destroy_keeps_the_buckets_their_settings_and_the_key(serverless: RecordingMocks) -> None:
    kept = [r for r in serverless.resources if r.type in DATA]
    assert len(kept) == 17  # 2 buckets x 7 kinds, no logging for the log bucket, key, alias
    assert [r.name for r in kept if r.retain_on_delete is not True] == []
    for bucket in serverless.of_type(BUCKET):
        assert bucket.inputs["forceDestroy"] is False, bucket.name
    # What holds no data goes with the stack.
    for queue in serverless.of_type(QUEUE):
        assert queue.retain_on_delete is not True, queue.name


def test_a_throwaway_stack_deletes_its_buckets_and_key() -> None:
    mocks = run_stack({**STACK_CONFIG, "dermascan:forceDestroy": "true"})
    assert [r.name for r in mocks.resources if r.retain_on_delete] == []
    for bucket in mocks.of_type(BUCKET):
        assert bucket.inputs["forceDestroy"] is True, bucket.name


def app_policy(mocks: RecordingMocks) -> dict[str, object]:
    return policy_of(mocks.one("aws:iam/policy:Policy", "storage-app-access"))


def test_the_app_policy_reads_the_layout_writes_user_input_and_deletes_everything(
    serverless: RecordingMocks,
) -> None:
    document = app_policy(serverless)
    bucket = arn(serverless, BUCKET, "storage-images")
    everything = sorted(f"{bucket}/{prefix}*" for prefix in KeyLayout().prefixes().values())
    assert statement(document, "ReadTheLayout")["Action"] == ["s3:GetObject"]
    assert statement(document, "ReadTheLayout")["Resource"] == everything
    assert statement(document, "Write") == {
        "Sid": "Write",
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": [
            f"{bucket}/cases/*",
            f"{bucket}/explain-requests/*",
            f"{bucket}/outcomes/*",
            f"{bucket}/references/*",
            f"{bucket}/uploads/*",
        ],
    }
    assert statement(document, "DeleteEveryVersion")["Action"] == [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
    ]
    assert statement(document, "DeleteEveryVersion")["Resource"] == everything
    assert statement(document, "ListTheBucket")["Action"] == [
        "s3:ListBucket",
        "s3:ListBucketVersions",
    ]
    assert statement(document, "ListTheBucket")["Resource"] == [bucket]
    assert statement(document, "UseTheStackKey")["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement(document, "UseTheStackKey")["Resource"] == [arn(serverless, KEY)]
    statements: list[dict[str, Any]] = document["Statement"]  # type: ignore[assignment]
    assert [s["Sid"] for s in statements if "s3:PutObject" in s["Action"]] == ["Write"]
    policy = serverless.one("aws:iam/policy:Policy", "storage-app-access").inputs["policy"]
    assert rules.iam_wildcards(policy) == []


def test_the_app_policy_never_lets_the_app_write_a_record(serverless: RecordingMocks) -> None:
    bucket = arn(serverless, BUCKET, "storage-images")
    writable = statement(app_policy(serverless), "Write")["Resource"]
    for name in KeyLayout().function_writes():
        prefix = KeyLayout().prefixes()[name]
        assert f"{bucket}/{prefix}*" not in writable, name


def test_the_app_policy_is_exported_and_attached_to_no_role_of_the_stack(
    serverless: RecordingMocks,
) -> None:
    policy = serverless.one("aws:iam/policy:Policy", "storage-app-access")
    assert serverless.exports["appPolicyArn"] == policy.outputs["arn"]
    for token in (
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    ):
        assert serverless.of_type(token) == []
    for role in serverless.of_type("aws:iam/role:Role"):
        assert policy.outputs["arn"] not in (role.inputs.get("managedPolicyArns") or [])
