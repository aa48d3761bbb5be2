"""Storage: the stack's KMS key, the image bucket (and its log bucket), the queue that announces
new objects (and its DLQ), and the managed policy the app runs with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import _policies
from runtime.keys import KeyLayout

DAY = 24 * 3600
DLQ_RETENTION_DAYS = 14  # the SQS maximum (MessageRetentionPeriod, 1,209,600 s)


@dataclass(frozen=True)
class StorageArgs:
    """How long things are kept, and the queue's timing."""

    account_id: str
    region: str
    upload_retention_days: int = 30
    """Uploads, records and thumbnails expire after this many days: health images are not kept
    forever by accident."""
    noncurrent_version_days: int = 7
    access_log_retention_days: int = 90
    queue_visibility_timeout_seconds: int = 720
    """At least 6x the function's timeout (Compute checks it)."""
    queue_retention_days: int = DLQ_RETENTION_DAYS
    """How long an upload's notification waits to be processed: SQS's maximum, 14 days, so
    overload delays uploads instead of deleting them (SQS drops what outlives the retention,
    without dead-lettering it). The dead-letter queue keeps 14 days too, the most it can: a
    standard queue's DLQ counts retention from the original enqueue time (SQS Developer Guide,
    "Setting-up dead-letter queue retention"), so only a message that waited almost 14 days and
    then failed would leave the DLQ soon after; the queue-age alarm fires days before that."""
    max_receive_count: int = 5
    layout: KeyLayout = field(default_factory=KeyLayout)
    """Where uploads and results live: the notification filter and lifecycle rules follow it."""
    force_destroy: bool = False
    """A throwaway stack: `pulumi destroy` deletes the buckets with their contents and schedules
    the key's deletion. Off (the default): the buckets, their settings and the key are retained
    on delete, so data and the key that decrypts it outlive a destroy or a replacement."""

    def __post_init__(self) -> None:
        for name in (
            "upload_retention_days",
            "noncurrent_version_days",
            "access_log_retention_days",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"StorageArgs.{name} must be at least 1, got {getattr(self, name)}"
                )
        if self.max_receive_count < 5:
            raise ValueError(
                f"StorageArgs.max_receive_count must be at least 5, got {self.max_receive_count}"
            )
        if not 1 <= self.queue_retention_days <= DLQ_RETENTION_DAYS:
            raise ValueError(
                f"StorageArgs.queue_retention_days must be 1-{DLQ_RETENTION_DAYS} (the SQS "
                f"maximum, which its dead-letter queue keeps); got {self.queue_retention_days}"
            )
        if self.queue_retention_days > self.upload_retention_days:
            raise ValueError(
                f"StorageArgs.queue_retention_days ({self.queue_retention_days}) must not exceed "
                f"upload_retention_days ({self.upload_retention_days}): an upload that expires "
                "while its notification waits is never classified. Set queueRetentionDays to "
                f"{self.upload_retention_days} or less."
            )


class Storage(pulumi.ComponentResource):
    """Where uploads and results live, and the queue that announces new uploads."""

    key: aws.kms.Key
    bucket: aws.s3.Bucket
    log_bucket: aws.s3.Bucket
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    app_policy: aws.iam.Policy

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dermascan:index:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # What holds data, or could read it, outlives the stack unless it is a throwaway one:
        # `pulumi destroy` (and a replacement) then drops the key and the buckets, with the
        # settings that keep them private, encrypted and expiring, from the state only.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=not args.force_destroy)

        self.key = aws.kms.Key(
            f"{name}-key",
            description="dermascan: uploads, results, logs and alerts",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(_policies.kms_key_policy(args.account_id, args.region)),
            opts=kept,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name_prefix="alias/dermascan-",
            target_key_id=self.key.key_id,
            opts=kept,
        )

        self.log_bucket = aws.s3.Bucket(
            f"{name}-access-logs", force_destroy=args.force_destroy, opts=kept
        )
        self.bucket = aws.s3.Bucket(f"{name}-images", force_destroy=args.force_destroy, opts=kept)

        # Server access logs cannot be delivered to an SSE-KMS bucket, so the log bucket alone
        # uses SSE-S3; everything else in it is locked down like the image bucket.
        self._lock_down(f"{name}-access-logs", self.log_bucket, None, kept)
        self._lock_down(f"{name}-images", self.bucket, self.key, kept)
        aws.s3.BucketPolicy(
            f"{name}-access-logs-policy",
            bucket=self.log_bucket.id,
            policy=pulumi.Output.all(self.log_bucket.arn, self.bucket.arn).apply(
                lambda arns: json.dumps(
                    _policies.tls_only_bucket_policy(
                        arns[0], _policies.access_log_delivery(arns[0], arns[1], args.account_id)
                    )
                )
            ),
            opts=kept,
        )
        images_policy = aws.s3.BucketPolicy(
            f"{name}-images-policy",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: json.dumps(_policies.tls_only_bucket_policy(arn))
            ),
            opts=kept,
        )
        aws.s3.BucketLogging(
            f"{name}-images-logging",
            bucket=self.bucket.id,
            target_bucket=self.log_bucket.id,
            target_prefix="s3-access/",
            opts=kept,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-access-logs-lifecycle",
            bucket=self.log_bucket.id,
            rules=[
                _expire(
                    "access-logs", "", args.access_log_retention_days, args.noncurrent_version_days
                )
            ],
            opts=kept,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-images-lifecycle",
            bucket=self.bucket.id,
            rules=[
                _expire(name, prefix, args.upload_retention_days, args.noncurrent_version_days)
                for name, prefix in args.layout.prefixes().items()
            ],
            opts=kept,
        )

        # SSE-SQS: S3 can send to it (the AWS-managed alias/aws/sqs key it could not use).
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-uploads-dlq",
            message_retention_seconds=DLQ_RETENTION_DAYS * DAY,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-uploads",
            visibility_timeout_seconds=args.queue_visibility_timeout_seconds,
            message_retention_seconds=args.queue_retention_days * DAY,
            sqs_managed_sse_enabled=True,
            redrive_policy=pulumi.Output.json_dumps(
                {
                    "deadLetterTargetArn": self.dead_letter_queue.arn,
                    "maxReceiveCount": args.max_receive_count,
                }
            ),
            opts=child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-uploads-dlq-redrive-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self.queue.arn]}
            ),
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-uploads-dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=self.dead_letter_queue.arn.apply(
                lambda arn: json.dumps(_policies.tls_only_queue_policy(arn))
            ),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-uploads-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.all(self.queue.arn, self.bucket.arn).apply(
                lambda arns: json.dumps(
                    _policies.queue_policy_for_bucket(arns[0], arns[1], args.account_id)
                )
            ),
            opts=child,
        )
        # Every new object under each notified prefix (uploads, explanation requests,
        # confirmed outcomes), whatever its name: a file that is no image (stored as .bin)
        # must get its error record too, or History shows it pending forever. One
        # configuration per prefix, named by the layout's field; nothing the function writes
        # is notified, so processing can never trigger itself.
        aws.s3.BucketNotification(
            f"{name}-uploads-notification",
            bucket=self.bucket.id,
            queues=[
                aws.s3.BucketNotificationQueueArgs(
                    id=field_name.replace("_", "-"),
                    queue_arn=self.queue.arn,
                    events=["s3:ObjectCreated:*"],
                    filter_prefix=prefix,
                )
                for field_name, prefix in args.layout.notified().items()
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy, images_policy]),
        )
        # For the app's principal to attach (it is not the function's: that role is Compute's
        # and stays as it is).
        self.app_policy = aws.iam.Policy(
            f"{name}-app-access",
            description="dermascan: what the app may do with the image bucket and its key",
            policy=pulumi.Output.all(self.bucket.arn, self.key.arn).apply(
                lambda arns: json.dumps(
                    _policies.app_policy(
                        bucket_arn=arns[0],
                        prefixes=tuple(args.layout.prefixes().values()),
                        write_prefixes=tuple(args.layout.app_writes().values()),
                        key_arn=arns[1],
                    )
                )
            ),
            opts=child,
        )

        self.register_outputs(
            {
                "bucket": self.bucket.bucket,
                "key_arn": self.key.arn,
                "queue_arn": self.queue.arn,
                "dead_letter_queue_arn": self.dead_letter_queue.arn,
                "app_policy_arn": self.app_policy.arn,
            }
        )

    def _lock_down(
        self,
        name: str,
        bucket: aws.s3.Bucket,
        kms_key: aws.kms.Key | None,
        opts: pulumi.ResourceOptions,
    ) -> None:
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=opts,
        )
        by_default = (
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
        )
        default = (
            by_default(sse_algorithm="aws:kms", kms_master_key_id=kms_key.arn)
            if kms_key is not None
            else by_default(sse_algorithm="AES256")
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    bucket_key_enabled=kms_key is not None,
                )
            ],
            opts=opts,
        )


def _expire(
    rule_id: str, prefix: str, days: int, noncurrent_days: int
) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=f"expire-{rule_id}",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
        noncurrent_version_expiration=(
            aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=noncurrent_days
            )
        ),
        abort_incomplete_multipart_upload=(
            aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=1
            )
        ),
    )
