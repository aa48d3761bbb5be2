"""__main__.py under Pulumi's mocks: both hosting modes, any region, clear config errors, tags."""

from __future__ import annotations

import json
from collections import Counter

import pulumi
import pytest

from tests.conftest import STACK_CONFIG, project_config_defaults, run_stack

SHARED = {
    "aws:s3/bucket:Bucket": 2,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 2,
    "aws:s3/bucketPolicy:BucketPolicy": 2,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 2,
    "aws:s3/bucketVersioning:BucketVersioning": 2,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 2,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 2,
    "aws:s3/bucketLogging:BucketLogging": 1,
    "aws:s3/bucketNotification:BucketNotification": 1,
    "aws:kms/key:Key": 1,
    "aws:kms/alias:Alias": 1,
    "aws:sqs/queue:Queue": 2,
    "aws:sqs/queuePolicy:QueuePolicy": 2,
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": 1,
    "aws:iam/role:Role": 2,
    "aws:iam/rolePolicy:RolePolicy": 2,
    "aws:iam/policy:Policy": 1,
    "aws:sagemaker/model:Model": 1,
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": 1,
    "aws:sagemaker/endpoint:Endpoint": 1,
    "aws:lambda/layerVersion:LayerVersion": 1,
    "aws:lambda/function:Function": 1,
    "aws:lambda/eventSourceMapping:EventSourceMapping": 1,
    "aws:cloudwatch/logGroup:LogGroup": 2,
    "aws:cloudwatch/metricAlarm:MetricAlarm": 8,
    "aws:cloudwatch/dashboard:Dashboard": 1,
    "aws:sns/topic:Topic": 1,
    "aws:sns/topicPolicy:TopicPolicy": 1,
    "aws:budgets/budget:Budget": 1,
    "pulumi:providers:aws": 1,
    "dermascan:index:Storage": 1,
    "dermascan:index:ModelHosting": 1,
    "dermascan:index:Compute": 1,
    "dermascan:index:Observability": 1,
}
REALTIME_ONLY = {"aws:appautoscaling/target:Target": 1, "aws:appautoscaling/policy:Policy": 1}


def test_serverless_stack_resources() -> None:
    assert Counter(r.type for r in run_stack(STACK_CONFIG).resources) == SHARED


def test_realtime_stack_resources_add_autoscaling_only() -> None:
    mocks = run_stack({**STACK_CONFIG, "dermascan:hosting": "realtime"})
    assert Counter(r.type for r in mocks.resources) == SHARED | REALTIME_ONLY


def test_a_region_other_than_us_east_1() -> None:
    mocks = run_stack({**STACK_CONFIG, "aws:region": "ap-southeast-2"})
    assert mocks.one("pulumi:providers:aws").inputs["region"] == "ap-southeast-2"
    image = mocks.one("aws:sagemaker/model:Model").inputs["primaryContainer"]["image"]
    assert ".dkr.ecr.ap-southeast-2.amazonaws.com/huggingface-pytorch-inference:" in image
    key_policy = mocks.one("aws:kms/key:Key").inputs["policy"]
    assert "logs.ap-southeast-2.amazonaws.com" in key_policy


def test_every_resource_is_tagged_through_the_provider() -> None:
    mocks = run_stack(STACK_CONFIG)
    provider = mocks.one("pulumi:providers:aws")
    assert json.loads(provider.inputs["defaultTags"]) == {
        "tags": {"project": "dermascan", "stack": "test", "cost-center": "dermatology"}
    }
    for resource in mocks.resources:
        if resource.type.startswith("aws:"):
            assert "::aws::" in resource.provider, f"{resource.name} bypasses the tagged provider"


def test_a_missing_cost_centre_is_pulumis_clear_error() -> None:
    with pytest.raises(pulumi.ConfigMissingError, match="dermascan:costCenter"):
        run_stack({"aws:region": "eu-west-1"})


def test_every_config_key_is_declared_with_a_description() -> None:
    import yaml

    from tests.conftest import REPO

    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    assert all(spec.get("description") and spec.get("type") for spec in declared.values())
    assert set(project_config_defaults()) == {
        f"dermascan:{k}" for k in declared if k != "costCenter"
    }
    main = (REPO / "__main__.py").read_text()
    for key in declared:
        assert f'"{key}"' in main, f"{key} is declared but never read"


def test_preview_registers_the_same_resources_as_an_update() -> None:
    # Resources made inside apply() would be missing from preview, where outputs are unknown.
    update = run_stack(STACK_CONFIG, preview=False)
    preview = run_stack(STACK_CONFIG, preview=True)
    assert sorted((r.type, r.name) for r in preview.resources) == sorted(
        (r.type, r.name) for r in update.resources
    )
