"""AWS's own rules for what the stack deploys, each checked on what the program registers.

Every test cites where AWS (or the Pulumi provider) states the rule: the document and its
section. Each failed on the stack before issue 12 was fixed. Resource names, ids and ARNs are
read from the resources (the mocks autoname like Pulumi), never spelled.
"""

from __future__ import annotations

import json

import pytest

from tests.components.conftest import (
    BUCKET,
    FUNCTION,
    KEY,
    LOG_GROUP,
    QUEUE,
    arn,
    assert_denies_insecure_transport,
    endpoint,
    for_bucket,
    policy_of,
)
from tests.conftest import STACK_CONFIG, RecordingMocks, run_stack

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
MODEL = "aws:sagemaker/model:Model"
POLICY = "aws:appautoscaling/policy:Policy"
TARGET = "aws:appautoscaling/target:Target"
WEIGHTS = "s3://models/ham10000/model.tar.gz"


def stack(**config: str) -> RecordingMocks:
    """The stack with Pulumi.yaml's defaults and these ``dermascan:`` settings."""
    return run_stack({**STACK_CONFIG, **{f"dermascan:{k}": v for k, v in config.items()}})


# --- SageMaker --------------------------------------------------------------------------------


def test_serverless_models_are_never_network_isolated() -> None:
    """SageMaker Developer Guide, "Deploy models with Amazon SageMaker Serverless Inference",
    section "Feature exclusions": serverless inference does not support network isolation (nor
    VPC configuration, GPUs, ...); CreateEndpoint refuses a serverless variant of a model with
    ``EnableNetworkIsolation``. Weights from S3 (``modelDataUrl``) isolate real-time hosting only.
    """
    isolated = {
        hosting: stack(hosting=hosting, modelDataUrl=WEIGHTS)
        .one(MODEL)
        .inputs["enableNetworkIsolation"]
        for hosting in ("serverless", "realtime")
    }
    assert isolated == {"serverless": False, "realtime": True}


def test_switching_hosting_mode_replaces_the_endpoint_and_what_names_it() -> None:
    """SageMaker Developer Guide, "Update a serverless endpoint" (note): updating a real-time
    endpoint to a serverless one is not supported, so the endpoint must be replaced, not updated.
    The endpoint and its configuration get other URNs (Pulumi creates the new ones, points the
    function and alarms at them, then deletes the old), and the function calls the new one."""
    by_mode = {mode: stack(hosting=mode) for mode in ("serverless", "realtime")}
    endpoints = {mode: endpoint(mocks) for mode, mocks in by_mode.items()}
    assert endpoints["serverless"].urn != endpoints["realtime"].urn
    assert endpoints["serverless"].outputs["name"] != endpoints["realtime"].outputs["name"]
    configs = {mode: mocks.one(CONFIG).urn for mode, mocks in by_mode.items()}
    assert configs["serverless"] != configs["realtime"]
    for mode, mocks in by_mode.items():
        variables = mocks.one(FUNCTION).inputs["environment"]["variables"]
        assert variables["ENDPOINT_NAME"] == endpoints[mode].outputs["name"], mode


def test_changing_the_instance_type_replaces_the_endpoint_and_its_autoscaling() -> None:
    """SageMaker Developer Guide, "Update endpoints that use auto scaling": an update that changes
    the instance type of a variant registered as a scalable target fails. The endpoint, its
    scalable target and scaling policy are replaced instead (other URNs), the target names the
    new endpoint, and the alarms watch it. A change that keeps the instance type (here the
    instance counts) keeps the endpoint: SageMaker allows that update in place."""
    m5 = stack(hosting="realtime", realtimeInstanceType="ml.m5.large")
    c5 = stack(hosting="realtime", realtimeInstanceType="ml.c5.xlarge")
    assert endpoint(m5).urn != endpoint(c5).urn
    for kind in (TARGET, POLICY):
        assert m5.one(kind).urn != c5.one(kind).urn, kind
    for mocks in (m5, c5):
        name = endpoint(mocks).outputs["name"]
        assert mocks.one(TARGET).inputs["resourceId"] == f"endpoint/{name}/variant/AllTraffic"
        watched = {
            a.inputs["dimensions"]["EndpointName"]
            for a in mocks.of_type(ALARM)
            if "EndpointName" in a.inputs["dimensions"]
        }
        assert watched == {name}
    more = stack(hosting="realtime", realtimeMinCount="2", realtimeMaxCount="4")
    assert endpoint(more).urn == endpoint(m5).urn


def test_the_endpoints_log_group_is_the_stacks_made_before_the_endpoint() -> None:
    """SageMaker Developer Guide, "Log groups and streams that Amazon SageMaker AI sends to
    Amazon CloudWatch Logs": an endpoint's container logs go to
    ``/aws/sagemaker/Endpoints/[EndpointName]``, and log data is kept indefinitely by default.
    The stack creates that group with retention and its KMS key before the endpoint exists, so
    SageMaker writes into it instead of creating its own [CKV_AWS_66/158]."""
    for mode in ("serverless", "realtime"):
        mocks = stack(hosting=mode)
        the_endpoint = endpoint(mocks)
        (group,) = [
            g
            for g in mocks.of_type(LOG_GROUP)
            if g.inputs.get("name") == f"/aws/sagemaker/Endpoints/{the_endpoint.outputs['name']}"
        ]
        assert group.inputs["retentionInDays"] == 30
        assert group.inputs["kmsKeyId"] == arn(mocks, KEY)
        assert the_endpoint.depends_on(group), mode


def test_the_execution_role_may_pull_exactly_the_inference_image() -> None:
    """SageMaker API Reference, CreateModel, ``ExecutionRoleArn``: the role SageMaker assumes "to
    access model artifacts and docker image for deployment"; SageMaker Developer Guide, "How to
    use SageMaker AI execution roles", "CreateModel API: Execution Role Permissions", grants
    ``ecr:BatchCheckLayerAvailability``, ``ecr:BatchGetImage``, ``ecr:GetDownloadUrlForLayer``
    and ``ecr:GetAuthorizationToken``. The pulls are scoped to the image's own repository; the
    token action has no resource-level permissions (Service Authorization Reference, Amazon ECR)."""
    for mode in ("serverless", "realtime"):
        mocks = stack(hosting=mode)
        image = mocks.one(MODEL).inputs["primaryContainer"]["image"]
        registry, _, path = image.partition("/")
        account, _, _, region, *_ = registry.split(".")
        repository = path.split(":")[0]
        document = policy_of(mocks.one("aws:iam/rolePolicy:RolePolicy", "model-role-policy"))
        grants = {
            action: statement["Resource"]
            for statement in document["Statement"]
            for action in statement["Action"]
            if action.startswith("ecr:")
        }
        assert grants == {
            "ecr:BatchCheckLayerAvailability": [
                f"arn:aws:ecr:{region}:{account}:repository/{repository}"
            ],
            "ecr:BatchGetImage": [f"arn:aws:ecr:{region}:{account}:repository/{repository}"],
            "ecr:GetDownloadUrlForLayer": [
                f"arn:aws:ecr:{region}:{account}:repository/{repository}"
            ],
            "ecr:GetAuthorizationToken": ["*"],
        }, mode


def test_graviton_instances_get_no_x86_image() -> None:
    """SageMaker Developer Guide, "Migrate inference workload from x86 to AWS Graviton": Graviton
    instances need an Arm64 container image. sagemaker-core has no Arm image of the Hugging Face
    inference container, so such a type is refused with a clear error before anything deploys
    (before, ml.c7g was refused by sagemaker-core, but ml.m7g and ml.r7g got the x86 image and
    the endpoint could not start)."""
    for instance_type in ("ml.c7g.xlarge", "ml.m7g.large", "ml.r7g.large"):
        with pytest.raises(ValueError, match="Graviton"):
            stack(hosting="realtime", realtimeInstanceType=instance_type)


# --- Budgets ----------------------------------------------------------------------------------


def test_the_budget_tracks_the_projects_tagged_spend_not_the_accounts() -> None:
    """AWS Cost Management User Guide, "Creating a cost budget" (filters), and the Billing User
    Guide, "Using user-defined cost allocation tags": a budget without a filter tracks the whole
    account; one filtered on ``TagKeyValue`` ``user:<key>$<value>`` (pulumi-aws Budget
    ``costFilters``) tracks what carries that tag, once the key is activated in Billing. The tag
    is the project tag every resource gets from the provider's default tags."""
    mocks = stack()
    tags = json.loads(mocks.one("pulumi:providers:aws").inputs["defaultTags"])["tags"]
    budget = mocks.one("aws:budgets/budget:Budget").inputs
    assert budget["costFilters"] == [
        {"name": "TagKeyValue", "values": [f"user:project${tags['project']}"]}
    ]


# --- Transport -------------------------------------------------------------------------------


def test_every_bucket_and_queue_refuses_plain_http() -> None:
    """S3 User Guide, "Security best practices for Amazon S3", "Enforce encryption of data in
    transit" [Security Hub S3.5], and SQS Developer Guide, "Amazon SQS security best practices",
    "Enforce encryption of data in transit" (AWS Solutions Constructs add the same ``HttpsOnly``
    statement): a resource policy denies ``aws:SecureTransport = false`` to every principal for
    every action on the whole resource. The dead-letter queue too: it holds the same messages."""
    mocks = stack()
    for bucket in mocks.of_type(BUCKET):
        policy = for_bucket(mocks, "aws:s3/bucketPolicy:BucketPolicy", bucket)
        bucket_arn = bucket.outputs["arn"]
        assert_denies_insecure_transport(policy_of(policy), "s3", [bucket_arn, f"{bucket_arn}/*"])
    for queue in mocks.of_type(QUEUE):
        documents = [
            policy_of(p)
            for p in mocks.of_type("aws:sqs/queuePolicy:QueuePolicy")
            if p.inputs["queueUrl"] == queue.outputs["url"]
        ]
        assert len(documents) == 1, f"queue {queue.name} has {len(documents)} policies"
        assert_denies_insecure_transport(documents[0], "sqs", [queue.outputs["arn"]])


# --- Teardown ---------------------------------------------------------------------------------


def test_destroy_keeps_the_data_and_the_key_that_decrypts_it() -> None:
    """S3 API Reference, DeleteBucket: every object version must be deleted before the bucket,
    so without ``forceDestroy`` a destroy of a versioned bucket with data fails; and AWS KMS
    Developer Guide, "Deleting AWS KMS keys": once deleted, data encrypted under a key cannot be
    decrypted. Pulumi's ``retainOnDelete`` option ("Resource option: retainOnDelete") removes a
    resource from the state without deleting it: the data buckets (with the settings that keep
    them private, encrypted and expiring) and the key are retained unless the stack is a
    throwaway one (``forceDestroy``)."""
    mocks = stack()
    retained = {r.type for r in mocks.resources if r.retain_on_delete is True}
    assert {BUCKET, KEY, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"} <= (
        retained
    )
    assert all(b.retain_on_delete is True for b in mocks.of_type(BUCKET))


# --- The pipeline under load ------------------------------------------------------------------


def test_overload_delays_uploads_and_never_deletes_them() -> None:
    """SQS API Reference, SetQueueAttributes, ``MessageRetentionPeriod``: 60 s to 1,209,600 s
    (14 days), default 4 days; a message older than that is deleted, never dead-lettered. SQS
    Developer Guide, "Setting-up dead-letter queue retention": a standard queue's messages keep
    their original enqueue time in the DLQ, so the DLQ must keep messages longer than the queue,
    or as long when both are at the maximum. Hence both at the maximum (not SQS's 4-day
    default)."""
    mocks = stack()
    retention = {q.name: q.inputs["messageRetentionSeconds"] for q in mocks.of_type(QUEUE)}
    assert retention == {"storage-uploads-dlq": 1_209_600, "storage-uploads": 1_209_600}


def test_the_function_outlasts_its_endpoint_attempts_and_the_queue_outlasts_it() -> None:
    """AWS Lambda Developer Guide, "Creating and configuring an Amazon SQS event source mapping":
    the queue's visibility timeout is at least six times the function's timeout. And the function's
    timeout must cover one image's endpoint attempts: every attempt waiting out its read timeout
    (botocore's retries back off up to 20 s between attempts), or a serverless cold start, which
    can outlast one attempt, times the invocation out instead of being waited for. The attempts
    and read timeout reach the function as ``INVOKE_MAX_ATTEMPTS`` and
    ``INVOKE_READ_TIMEOUT_SECONDS``."""
    mocks = stack()
    function = mocks.one(FUNCTION).inputs
    variables = function["environment"]["variables"]
    attempts = int(variables["INVOKE_MAX_ATTEMPTS"])
    read_timeout = int(variables["INVOKE_READ_TIMEOUT_SECONDS"])
    assert attempts * read_timeout + (attempts - 1) * 20 < function["timeout"]
    queue = mocks.one(QUEUE, "storage-uploads").inputs
    assert queue["visibilityTimeoutSeconds"] >= 6 * function["timeout"]
