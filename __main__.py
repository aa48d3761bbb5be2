"""dermascan's infrastructure: the stack's config -> the four layers -> what the app needs."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.compute import VISIBILITY_FACTOR, Compute, ComputeArgs
from components.model_hosting import ModelHosting, ModelHostingArgs
from components.observability import Observability, ObservabilityArgs
from components.packaging import function_zip, layer_zip
from components.storage import Storage, StorageArgs
from runtime.keys import KeyLayout

HERE = Path(__file__).resolve().parent
# Every key, its type and its default are declared in Pulumi.yaml: read them with require*.
config = pulumi.Config()
region = pulumi.Config("aws").require("region")
stack = pulumi.get_stack()
tags = {"project": "dermascan", "stack": stack, "cost-center": config.require("costCenter")}

# One explicit provider carries the tags to every resource (and the cost-allocation report).
provider = aws.Provider("aws", region=region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
with_provider = pulumi.ResourceOptions(providers={"aws": provider})
account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider)).account_id

timeout = config.require_int("lambdaTimeoutSeconds")
# The one key layout: the pipeline writes with it, and the bucket's notification filter and
# lifecycle rules, the function's IAM scopes and its environment all derive from it.
layout = KeyLayout()
retention_days = config.require_int("uploadRetentionDays")
storage = Storage(
    "storage",
    StorageArgs(
        account_id=account_id,
        region=region,
        upload_retention_days=retention_days,
        queue_retention_days=config.require_int("queueRetentionDays"),
        queue_visibility_timeout_seconds=VISIBILITY_FACTOR * timeout,
        layout=layout,
        force_destroy=config.require_bool("forceDestroy"),
    ),
    opts=with_provider,
)

model_revision = config.require("modelRevision")
model_id = config.require("modelId")
hosting_args = ModelHostingArgs(
    account_id=account_id,
    region=region,
    kms_key_arn=storage.key.arn,
    model_id=model_id,
    model_revision=model_revision,
    hosting=config.require("hosting"),  # type: ignore[arg-type]  # checked by Args
    model_data_url=config.get("modelDataUrl") or None,
    transformers_version=config.require("transformersVersion"),
    pytorch_version=config.require("pytorchVersion"),
    serverless_memory_mb=config.require_int("serverlessMemoryMb"),
    serverless_max_concurrency=config.require_int("serverlessMaxConcurrency"),
    instance_type=config.require("realtimeInstanceType"),
    min_instances=config.require_int("realtimeMinCount"),
    max_instances=config.require_int("realtimeMaxCount"),
    target_invocations_per_instance=config.require_int("realtimeTargetInvocationsPerInstance"),
    log_retention_days=config.require_int("logRetentionDays"),
)
hosting = ModelHosting("model", hosting_args, opts=with_provider)

build = HERE / "build"
compute = Compute(
    "compute",
    ComputeArgs(
        account_id=account_id,
        function_zip=str(function_zip(HERE / "runtime", build / "function.zip")),
        layer_zip=str(layer_zip(HERE / "requirements-lambda.txt", build)),
        bucket_name=storage.bucket.bucket,
        bucket_arn=storage.bucket.arn,
        queue_arn=storage.queue.arn,
        queue_visibility_timeout_seconds=VISIBILITY_FACTOR * timeout,
        kms_key_arn=storage.key.arn,
        endpoint_name=hosting.endpoint.name,
        endpoint_arn=hosting.endpoint.arn,
        model_id=model_id,
        model_revision=model_revision,
        max_concurrency=config.require_int("lambdaMaxConcurrency")
        or max(2, hosting_args.concurrency),
        memory_mb=config.require_int("lambdaMemoryMb"),
        timeout_seconds=timeout,
        invoke_max_attempts=config.require_int("invokeMaxAttempts"),
        invoke_read_timeout_seconds=config.require_int("invokeReadTimeoutSeconds"),
        log_retention_days=config.require_int("logRetentionDays"),
        layout=layout,
    ),
    opts=with_provider,
)

observability = Observability(
    "observability",
    ObservabilityArgs(
        account_id=account_id,
        region=region,
        kms_key_arn=storage.key.arn,
        function_name=compute.function.name,
        function_timeout_seconds=timeout,
        queue_name=storage.queue.name,
        dead_letter_queue_name=storage.dead_letter_queue.name,
        endpoint_name=hosting.endpoint.name,
        variant_name=hosting.variant_name,
        monthly_budget_usd=config.require_int("monthlyBudgetUsd"),
        budget_tag=("project", tags["project"]),
        alert_email=config.get("alertEmail") or None,
        billing_alarm=config.require_bool("billingAlarm"),
        tags=tags,
    ),
    opts=with_provider,
)

pulumi.export("bucket", storage.bucket.bucket)
pulumi.export("queue", storage.queue.name)
pulumi.export("deadLetterQueue", storage.dead_letter_queue.name)
pulumi.export("function", compute.function.name)
pulumi.export("endpoint", hosting.endpoint.name)
# Attach it to whatever runs the app (a server's role, an SSO permission set).
pulumi.export("appPolicyArn", storage.app_policy.arn)
pulumi.export(
    "dashboardUrl",
    observability.dashboard.dashboard_name.apply(
        lambda name: (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home"
            f"?region={region}#dashboards/dashboard/{name}"
        )
    ),
)
# `export $(pulumi stack output appEnv)` points the app at this stack.
pulumi.export(
    "appEnv",
    storage.bucket.bucket.apply(
        lambda bucket: (
            f"DERMASCAN_BACKEND=aws DERMASCAN_BUCKET={bucket} "
            f"DERMASCAN_STACK={stack} DERMASCAN_RETENTION_DAYS={retention_days} "
            f"AWS_REGION={region}"
        )
    ),
)
