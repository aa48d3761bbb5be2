"""components/storage.py: the posture of every bucket, the key, the queues and the notification."""

from __future__ import annotations

import json

import boto3
import pytest
from mypy_boto3_s3.type_defs import FilterRuleTypeDef, QueueConfigurationTypeDef

from components.storage import StorageArgs
from policy import rules
from runtime.events import created_objects
from tests.components.conftest import for_bucket, policy_of, statement
from tests.conftest import STACK_CONFIG, RecordingMocks, run_stack

BUCKET = "aws:s3/bucket:Bucket"


def images(mocks: RecordingMocks) -> object:
    return mocks.one(BUCKET, "storage-images")


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
        deny = statement(policy_of(policy), "DenyInsecureTransport")
        assert deny["Resource"] == [
            f"arn:aws:s3:::{bucket.name}-bucket",
            f"arn:aws:s3:::{bucket.name}-bucket/*",
        ]


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
    key = serverless.one("aws:kms/key:Key", "storage-key")
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": f"arn:aws:kms:eu-west-1:123456789012:key/{key.name}",
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
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"] == "arn:aws:s3:::storage-images-bucket"


def test_image_access_is_logged_to_the_log_bucket(serverless: RecordingMocks) -> None:
    logging = serverless.one("aws:s3/bucketLogging:BucketLogging")
    assert logging.inputs["bucket"] == "storage-images-id"
    assert logging.inputs["targetBucket"] == "storage-access-logs-id"


def test_uploads_results_and_old_versions_expire(serverless: RecordingMocks) -> None:
    bucket = serverless.one(BUCKET, "storage-images")
    lifecycle = for_bucket(
        serverless, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket
    )
    rules_by_prefix = {r["filter"]["prefix"]: r for r in lifecycle.inputs["rules"]}
    assert set(rules_by_prefix) == {"uploads/", "predictions/", "thumbnails/"}
    for rule in rules_by_prefix.values():
        assert rule["status"] == "Enabled"
        assert rule["expiration"]["days"] == 30
        assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 7


def test_the_retention_is_configurable() -> None:
    mocks = run_stack({**STACK_CONFIG, "dermascan:uploadRetentionDays": "7"})
    bucket = mocks.one(BUCKET, "storage-images")
    lifecycle = for_bucket(
        mocks, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket
    )
    assert {r["expiration"]["days"] for r in lifecycle.inputs["rules"]} == {7}


def test_queues_are_encrypted_and_dead_letters_outlive_their_source(
    serverless: RecordingMocks,
) -> None:
    queue = serverless.one("aws:sqs/queue:Queue", "storage-uploads")
    dlq = serverless.one("aws:sqs/queue:Queue", "storage-uploads-dlq")
    for q in (queue, dlq):
        assert rules.queue_encryption(q.inputs) == [], q.name
    redrive = json.loads(queue.inputs["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:storage-uploads-dlq",
        "maxReceiveCount": 5,
    }
    assert dlq.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    assert queue.inputs["messageRetentionSeconds"] < dlq.inputs["messageRetentionSeconds"]
    assert (
        rules.queues_have_dead_letters(
            {q.name: q.inputs for q in (queue, dlq)}, {queue.name: dlq.name}
        )
        == []
    )


def test_only_s3_from_this_bucket_and_account_may_send_to_the_queue(
    serverless: RecordingMocks,
) -> None:
    document = policy_of(serverless.one("aws:sqs/queuePolicy:QueuePolicy"))
    (only,) = document["Statement"]
    assert only["Principal"] == {"Service": "s3.amazonaws.com"}
    assert only["Action"] == "sqs:SendMessage"
    assert only["Resource"] == "arn:aws:sqs:eu-west-1:123456789012:storage-uploads"
    assert only["Condition"] == {
        "ArnEquals": {"aws:SourceArn": "arn:aws:s3:::storage-images-bucket"},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }


def test_every_new_upload_is_notified_and_results_cannot_recurse(
    serverless: RecordingMocks,
) -> None:
    notification = serverless.one("aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs["bucket"] == "storage-images-id"
    (queue,) = notification.inputs["queues"]
    assert queue["filterPrefix"] == "uploads/"
    assert "filterSuffix" not in queue  # a .bin upload must get its error record too
    assert queue["events"] == ["s3:ObjectCreated:*"]
    assert queue["queueArn"] == "arn:aws:sqs:eu-west-1:123456789012:storage-uploads"


def test_the_stacks_notification_on_moto_announces_every_upload_and_no_result(
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
    ]
    for key in keys:
        s3.put_object(Bucket="images", Key=key, Body=b"x")

    announced = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            announced += [key.key for key in created_objects(message["Body"])]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(announced) == sorted(key for key in keys if key.startswith("uploads/"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_receive_count": 3}, "max_receive_count"),
        ({"dlq_retention_seconds": 3600}, "dlq_retention_seconds"),
        ({"upload_retention_days": 0}, "upload_retention_days"),
    ],
)
def test_storage_args_refuse_unsafe_values(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        StorageArgs(account_id="1", region="eu-west-1", **changes)  # type: ignore[arg-type]
