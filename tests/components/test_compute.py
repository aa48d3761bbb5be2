"""components/compute.py: the function, its queue mapping, logs and a role scoped to its job."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import pytest
from cloudsplaining.scan.policy_document import PolicyDocument

from components.compute import ComputeArgs
from policy import rules
from runtime.batching import MAX_IMAGES_PER_REQUEST
from runtime.images import ImageLimits
from runtime.keys import KeyLayout
from runtime.settings import FunctionSettings
from tests.components.conftest import (
    BUCKET,
    FUNCTION,
    KEY,
    LOG_GROUP,
    QUEUE,
    arn,
    endpoint,
    physical_name,
    policy_of,
    statement,
)
from tests.conftest import RecordingMocks

# Findings we accept, each for one reason. The SageMaker execution role needs an ECR login to
# pull the inference image (CreateModel, ExecutionRoleArn: the role is how SageMaker accesses the
# "docker image"); cloudsplaining lists ecr:GetAuthorizationToken as credentials exposure because
# the token it returns is a registry credential, valid only for what the role may pull.
CLOUDSPLAINING_ACCEPTED = {
    "model-role-policy": {"credentials exposure": ["ecr:GetAuthorizationToken"]},
}


def function_policy(mocks: RecordingMocks) -> dict[str, object]:
    return policy_of(mocks.one("aws:iam/rolePolicy:RolePolicy", "compute-role-policy"))


def test_the_function_runs_a_supported_python_on_arm_with_tracing(
    serverless: RecordingMocks,
) -> None:
    function = serverless.one(FUNCTION).inputs
    assert function["runtime"] == "python3.12"
    assert function["architectures"] == ["arm64"]
    assert function["handler"] == "runtime.handler.handler"
    assert function["tracingConfig"] == {"mode": "Active"}
    assert function["timeout"] == 300
    layer = serverless.one("aws:lambda/layerVersion:LayerVersion").inputs
    assert layer["compatibleArchitectures"] == ["arm64"]
    assert layer["compatibleRuntimes"] == ["python3.12"]


def test_the_function_is_configured_by_environment(serverless: RecordingMocks) -> None:
    variables = serverless.one(FUNCTION).inputs["environment"]["variables"]
    assert variables == {
        "BUCKET_NAME": physical_name(serverless, BUCKET, "storage-images"),
        "ENDPOINT_NAME": endpoint(serverless).outputs["name"],
        "MODEL_ID": "Anwarkh1/Skin_Cancer-Image_Classification",
        "MODEL_REVISION": "e37ebda4a662db26d9221c78f6c72b1cb8736ce0",
        "UPLOADS_PREFIX": "uploads/",
        "PREDICTIONS_PREFIX": "predictions/",
        "THUMBNAILS_PREFIX": "thumbnails/",
        "CASES_PREFIX": "cases/",
        "REFERENCES_PREFIX": "references/",
        "EXPLANATIONS_PREFIX": "explanations/",
        "EXPLAIN_REQUESTS_PREFIX": "explain-requests/",
        "OUTCOMES_PREFIX": "outcomes/",
        "MAX_IMAGE_BYTES": str(10 * 1024 * 1024),
        "INVOKE_MAX_ATTEMPTS": "3",
        "INVOKE_READ_TIMEOUT_SECONDS": "60",
        "POWERTOOLS_SERVICE_NAME": "dermascan",
        "POWERTOOLS_METRICS_NAMESPACE": "dermascan",
    }


def test_logs_go_to_a_group_of_the_stack_with_retention_and_kms(
    serverless: RecordingMocks,
) -> None:
    group = serverless.one(LOG_GROUP, "compute-logs")
    assert rules.log_group_retention(group.inputs) == []
    assert group.inputs["retentionInDays"] == 30
    assert group.inputs["kmsKeyId"] == arn(serverless, KEY)
    logging = serverless.one(FUNCTION).inputs["loggingConfig"]
    assert logging == {"logFormat": "JSON", "logGroup": group.outputs["name"]}
    assert group.outputs["name"].startswith("/aws/lambda/")


def test_the_queue_feeds_it_with_partial_batch_responses_and_capped_concurrency(
    serverless: RecordingMocks,
) -> None:
    mapping = serverless.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    assert mapping["eventSourceArn"] == arn(serverless, QUEUE, "storage-uploads")
    assert mapping["functionName"] == arn(serverless, FUNCTION)
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["scalingConfig"] == {"maximumConcurrency": 5}  # the endpoint's concurrency
    assert mapping["batchSize"] == 5


def test_the_queue_hides_a_message_for_six_times_the_function_timeout(
    serverless: RecordingMocks,
) -> None:
    queue = serverless.one(QUEUE, "storage-uploads").inputs
    timeout = serverless.one(FUNCTION).inputs["timeout"]
    assert queue["visibilityTimeoutSeconds"] >= 6 * timeout


def test_a_visibility_under_six_timeouts_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 6 x timeout_seconds"):
        ComputeArgs(
            account_id="1",
            function_zip="f.zip",
            layer_zip="l.zip",
            bucket_name="b",
            bucket_arn="arn",
            queue_arn="arn",
            queue_visibility_timeout_seconds=599,
            kms_key_arn="arn",
            endpoint_name="e",
            endpoint_arn="arn",
            model_id="m",
            model_revision="r",
            max_concurrency=2,
            timeout_seconds=100,
        )


def test_the_function_reads_the_settings_compute_writes(serverless: RecordingMocks) -> None:
    """The environment as Compute writes it, read by the function's own settings module: a
    variable renamed on one side only fails here."""
    variables = serverless.one(FUNCTION).inputs["environment"]["variables"]
    read = ReadRecorder(variables)
    settings = FunctionSettings.from_env(read)
    assert settings == FunctionSettings(
        bucket=physical_name(serverless, BUCKET, "storage-images"),
        endpoint_name=endpoint(serverless).outputs["name"],
        model_id="Anwarkh1/Skin_Cancer-Image_Classification",
        model_revision="e37ebda4a662db26d9221c78f6c72b1cb8736ce0",
        layout=KeyLayout(),
        limits=ImageLimits(max_bytes=10 * 1024 * 1024),
        invoke_max_attempts=3,
        invoke_read_timeout=60.0,
    )
    # Powertools reads its own variables; every other one the function is given, it reads.
    not_read_by_settings = {n for n in variables if n.startswith("POWERTOOLS_")}
    assert set(variables) - read.names == not_read_by_settings


class ReadRecorder(Mapping[str, str]):
    """A mapping that remembers which keys were asked for."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = dict(data)
        self.names: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.names.add(key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.names.add(key)
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_one_images_endpoint_attempts_fit_in_the_function_timeout(
    serverless: RecordingMocks,
) -> None:
    function = serverless.one(FUNCTION).inputs
    variables = function["environment"]["variables"]
    attempts = int(variables["INVOKE_MAX_ATTEMPTS"])
    read_timeout = int(variables["INVOKE_READ_TIMEOUT_SECONDS"])
    # Every attempt waiting out its read timeout, 20 s of backoff between attempts.
    assert attempts * read_timeout + (attempts - 1) * 20 < function["timeout"]
    assert attempts >= 2  # a cold start's first call may time out: one retry at least


@pytest.mark.parametrize(
    ("attempts", "read_timeout", "timeout"), [(4, 60, 120), (3, 60, 249), (1, 100, 120)]
)
def test_attempts_that_outlast_the_function_are_refused(
    attempts: int, read_timeout: int, timeout: int
) -> None:
    with pytest.raises(ValueError, match=r"timeout_seconds \(\d+\) must cover"):
        ComputeArgs(
            account_id="1",
            function_zip="f.zip",
            layer_zip="l.zip",
            bucket_name="b",
            bucket_arn="arn",
            queue_arn="arn",
            queue_visibility_timeout_seconds=6 * timeout,
            kms_key_arn="arn",
            endpoint_name="e",
            endpoint_arn="arn",
            model_id="m",
            model_revision="r",
            max_concurrency=2,
            timeout_seconds=timeout,
            invoke_max_attempts=attempts,
            invoke_read_timeout_seconds=read_timeout,
        )


def test_an_explanations_requests_fit_in_the_function_timeout(serverless: RecordingMocks) -> None:
    function = serverless.one(FUNCTION).inputs
    read_timeout = int(function["environment"]["variables"]["INVOKE_READ_TIMEOUT_SECONDS"])
    # 50 images (7 x 7 regions and the original) in requests of at most 25, each allowed its
    # 60 s: SageMaker's limit for a model's answer
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html).
    requests = math.ceil(50 / MAX_IMAGES_PER_REQUEST)
    assert requests == 2
    assert requests * read_timeout + 30 <= function["timeout"]


def test_a_timeout_too_short_for_an_explanation_is_refused() -> None:
    # One image's attempts fit (1 x 60 s + 30 s), an explanation's two requests do not.
    with pytest.raises(ValueError, match=r"must cover one explanation: 2 endpoint requests"):
        ComputeArgs(
            account_id="1",
            function_zip="f.zip",
            layer_zip="l.zip",
            bucket_name="b",
            bucket_arn="arn",
            queue_arn="arn",
            queue_visibility_timeout_seconds=6 * 120,
            kms_key_arn="arn",
            endpoint_name="e",
            endpoint_arn="arn",
            model_id="m",
            model_revision="r",
            max_concurrency=2,
            timeout_seconds=120,
            invoke_max_attempts=1,
            invoke_read_timeout_seconds=60,
        )


def test_the_role_may_do_exactly_its_job(serverless: RecordingMocks) -> None:
    document = function_policy(serverless)
    bucket = arn(serverless, BUCKET, "storage-images")
    log_group = arn(serverless, LOG_GROUP, "compute-logs")
    assert statement(document, "ReadInputsAndResults")["Action"] == ["s3:GetObject"]
    assert statement(document, "ReadInputsAndResults")["Resource"] == [
        f"{bucket}/cases/*",
        f"{bucket}/explain-requests/*",
        f"{bucket}/explanations/*",
        f"{bucket}/outcomes/*",
        f"{bucket}/predictions/*",
        f"{bucket}/thumbnails/*",
        f"{bucket}/uploads/*",
    ]
    assert statement(document, "WriteResults") == {
        "Sid": "WriteResults",
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": [
            f"{bucket}/explanations/*",
            f"{bucket}/predictions/*",
            f"{bucket}/thumbnails/*",
        ],
    }
    assert statement(document, "MissingKeysAre404")["Resource"] == [bucket]
    assert statement(document, "InvokeTheEndpoint")["Resource"] == [
        endpoint(serverless).outputs["arn"]
    ]
    assert statement(document, "ConsumeTheQueue")["Resource"] == [
        arn(serverless, QUEUE, "storage-uploads")
    ]
    assert statement(document, "UseTheStackKey")["Resource"] == [arn(serverless, KEY)]
    assert statement(document, "WriteOwnLogs")["Resource"] == [f"{log_group}:*"]
    statements: list[dict[str, list[str]]] = document["Statement"]  # type: ignore[assignment]
    writes = [s for s in statements if any(a.startswith("s3:Put") for a in s["Action"])]
    assert len(writes) == 1  # nothing may be written under uploads/


def test_no_role_has_wildcards_or_managed_full_access(serverless: RecordingMocks) -> None:
    for policy in serverless.of_type("aws:iam/rolePolicy:RolePolicy"):
        assert rules.iam_wildcards(policy.inputs["policy"]) == [], policy.name
    assert serverless.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []
    for role in serverless.of_type("aws:iam/role:Role"):
        assert rules.full_access_policies(role.inputs.get("managedPolicyArns") or []) == []


@pytest.mark.parametrize("mode", ["serverless", "realtime"])
def test_every_role_policy_passes_cloudsplaining(
    mode: str, serverless: RecordingMocks, realtime: RecordingMocks
) -> None:
    mocks = serverless if mode == "serverless" else realtime
    for policy in mocks.of_type("aws:iam/rolePolicy:RolePolicy"):
        scanned = PolicyDocument(policy_of(policy))
        findings = {
            "privilege escalation": scanned.allows_privilege_escalation,
            "data exfiltration": scanned.allows_data_exfiltration_actions,
            "permissions management": scanned.permissions_management_without_constraints,
            "infrastructure modification": scanned.infrastructure_modification,
            "credentials exposure": scanned.credentials_exposure,
            "service wildcard": scanned.service_wildcard,
        }
        expected = CLOUDSPLAINING_ACCEPTED.get(policy.name, {})
        assert {k: v for k, v in findings.items() if v} == expected, policy.name
