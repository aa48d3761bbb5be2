"""Compute: the Lambda function that turns each notification into its result: an upload into a
prediction record, an explanation request into an explanation, an outcome into metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import _policies
from runtime.batching import explanation_requests
from runtime.formats import DEFAULT_MAX_BYTES
from runtime.keys import KeyLayout

LAMBDA_RUNTIME = "python3.12"
LAMBDA_ARCHITECTURE = "arm64"
VISIBILITY_FACTOR = 6  # AWS's advice: the queue hides a message for 6x the function's timeout
# botocore's standard and adaptive retry modes back off exponentially between attempts, at most
# 20 s each (botocore.retries.standard.ExponentialBackoff, max_backoff=20).
RETRY_BACKOFF_CAP_SECONDS = 20
# One image's work besides the endpoint: S3 reads and writes, decoding, connecting.
IMAGE_WORK_SECONDS = 30


def invoke_budget_seconds(attempts: int, read_timeout_seconds: int) -> int:
    """The longest one image's endpoint calls can take: every attempt waiting out its read
    timeout (a serverless cold start does), with the longest backoff between attempts."""
    return attempts * read_timeout_seconds + (attempts - 1) * RETRY_BACKOFF_CAP_SECONDS


def explanation_budget_seconds(read_timeout_seconds: int) -> int:
    """The longest one explanation's endpoint calls can take when each of its requests (50
    images in chunks, ``runtime.batching``) gets one attempt waiting out its read timeout.
    Retries past that are left to SQS: the handler starts no attempt that could outlive the
    invocation, and nothing is stored until the whole batch is answered."""
    return explanation_requests() * read_timeout_seconds


@dataclass(frozen=True)
class ComputeArgs:
    """The function's code, limits and wiring."""

    account_id: str
    function_zip: str
    """Path of the zip holding ``runtime/`` (components.packaging.function_zip)."""
    layer_zip: str
    """Path of the dependency layer zip (components.packaging.layer_zip)."""
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    queue_visibility_timeout_seconds: int
    kms_key_arn: pulumi.Input[str]
    endpoint_name: pulumi.Input[str]
    endpoint_arn: pulumi.Input[str]
    model_id: str
    model_revision: str
    max_concurrency: int
    """At most this many concurrent invocations: sized to what the endpoint serves at once."""
    memory_mb: int = 1024
    timeout_seconds: int = 300
    """Long enough for one image's every endpoint attempt (``invoke_budget_seconds``) plus its
    own work: with the defaults, a serverless cold start of up to about two minutes is waited
    out by the retries of one invocation instead of failing the upload."""
    invoke_max_attempts: int = 3
    """Endpoint calls per image, the first included (the function's ``INVOKE_MAX_ATTEMPTS``)."""
    invoke_read_timeout_seconds: int = 60
    """How long one call waits for the answer (``INVOKE_READ_TIMEOUT_SECONDS``): SageMaker's own
    limit for a model's answer is 60 s."""
    batch_size: int = 5
    batch_window_seconds: int = 1
    log_retention_days: int = 30
    max_image_bytes: int = DEFAULT_MAX_BYTES
    layout: KeyLayout = field(default_factory=KeyLayout)
    """Where uploads and results live: the role's S3 scopes and the function's environment
    follow it."""

    def __post_init__(self) -> None:
        if self.queue_visibility_timeout_seconds < VISIBILITY_FACTOR * self.timeout_seconds:
            raise ValueError(
                "ComputeArgs.queue_visibility_timeout_seconds must be at least "
                f"{VISIBILITY_FACTOR} x timeout_seconds "
                f"({VISIBILITY_FACTOR * self.timeout_seconds}), "
                f"got {self.queue_visibility_timeout_seconds}"
            )
        if not 2 <= self.max_concurrency <= 1000:
            raise ValueError(
                "ComputeArgs.max_concurrency must be 2-1000 (an SQS limit), "
                f"got {self.max_concurrency}"
            )
        if not 1 <= self.timeout_seconds <= 900:
            raise ValueError(
                f"ComputeArgs.timeout_seconds must be 1-900, got {self.timeout_seconds}"
            )
        if not 1 <= self.invoke_max_attempts <= 10:
            raise ValueError(
                f"ComputeArgs.invoke_max_attempts must be 1-10, got {self.invoke_max_attempts}"
            )
        if not 1 <= self.invoke_read_timeout_seconds <= 900:
            raise ValueError(
                "ComputeArgs.invoke_read_timeout_seconds must be 1-900, "
                f"got {self.invoke_read_timeout_seconds}"
            )
        needed = (
            invoke_budget_seconds(self.invoke_max_attempts, self.invoke_read_timeout_seconds)
            + IMAGE_WORK_SECONDS
        )
        if needed > self.timeout_seconds:
            raise ValueError(
                f"ComputeArgs.timeout_seconds ({self.timeout_seconds}) must cover "
                f"invoke_max_attempts ({self.invoke_max_attempts}) x "
                f"invoke_read_timeout_seconds ({self.invoke_read_timeout_seconds}) plus "
                f"{RETRY_BACKOFF_CAP_SECONDS} s of backoff per retry and {IMAGE_WORK_SECONDS} s "
                f"for the image: at least {needed}"
            )
        explaining = (
            explanation_budget_seconds(self.invoke_read_timeout_seconds) + IMAGE_WORK_SECONDS
        )
        if explaining > self.timeout_seconds:
            raise ValueError(
                f"ComputeArgs.timeout_seconds ({self.timeout_seconds}) must cover one "
                f"explanation: {explanation_requests()} endpoint requests of up to "
                f"invoke_read_timeout_seconds ({self.invoke_read_timeout_seconds}) each plus "
                f"{IMAGE_WORK_SECONDS} s of work: at least {explaining}"
            )
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"ComputeArgs.memory_mb must be 128-10240, got {self.memory_mb}")
        if not 1 <= self.batch_size <= 10:
            raise ValueError(f"ComputeArgs.batch_size must be 1-10, got {self.batch_size}")
        if self.log_retention_days < 1:
            raise ValueError(
                f"ComputeArgs.log_retention_days must be positive, got {self.log_retention_days}"
            )


class Compute(pulumi.ComponentResource):
    """The classify function, its layer, log group and role, fed by the upload queue."""

    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup
    role: aws.iam.Role

    def __init__(
        self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dermascan:index:Compute", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Created by the stack, so retention and encryption are ours, not Lambda's defaults.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name_prefix="/aws/lambda/dermascan-",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description="dermascan: the classify function runs with this role",
            assume_role_policy=json.dumps(
                _policies.assume_role("lambda.amazonaws.com", args.account_id)
            ),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                args.bucket_arn,
                args.queue_arn,
                args.endpoint_arn,
                args.kms_key_arn,
                self.log_group.arn,
            ).apply(
                lambda arns: json.dumps(
                    _policies.function_policy(
                        bucket_arn=arns[0],
                        read_prefixes=tuple(args.layout.function_reads().values()),
                        write_prefixes=tuple(args.layout.function_writes().values()),
                        queue_arn=arns[1],
                        endpoint_arn=arns[2],
                        key_arn=arns[3],
                        log_group_arn=arns[4],
                    )
                )
            ),
            opts=child,
        )
        layer = aws.lambda_.LayerVersion(
            f"{name}-dependencies",
            layer_name=f"{name}-dependencies",
            code=pulumi.FileArchive(args.layer_zip),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            description="dermascan runtime dependencies (requirements-lambda.txt)",
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-classify",
            runtime=LAMBDA_RUNTIME,
            architectures=[LAMBDA_ARCHITECTURE],
            handler="runtime.handler.handler",
            code=pulumi.FileArchive(args.function_zip),
            layers=[layer.arn],
            role=self.role.arn,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=self.log_group.name
            ),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "BUCKET_NAME": args.bucket_name,
                    "ENDPOINT_NAME": args.endpoint_name,
                    "MODEL_ID": args.model_id,
                    "MODEL_REVISION": args.model_revision,
                    **args.layout.environment(),
                    "MAX_IMAGE_BYTES": str(args.max_image_bytes),
                    "INVOKE_MAX_ATTEMPTS": str(args.invoke_max_attempts),
                    "INVOKE_READ_TIMEOUT_SECONDS": str(args.invoke_read_timeout_seconds),
                    "POWERTOOLS_SERVICE_NAME": "dermascan",
                    "POWERTOOLS_METRICS_NAMESPACE": "dermascan",
                }
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-uploads",
            event_source_arn=args.queue_arn,
            function_name=self.function.arn,
            batch_size=args.batch_size,
            maximum_batching_window_in_seconds=args.batch_window_seconds,
            # A failed upload is retried alone; the rest of the batch is acknowledged.
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                maximum_concurrency=args.max_concurrency
            ),
            opts=child,
        )
        self.register_outputs(
            {"function_name": self.function.name, "log_group": self.log_group.name}
        )
