"""components/model_hosting.py: the Hugging Face container, serverless or real-time, pinned."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from components.containers import NoArmImage, huggingface_inference_image, is_graviton
from components.model_hosting import ModelHostingArgs, endpoint_name
from tests.components.conftest import KEY, LOG_GROUP, arn, endpoint, policy_of, statement
from tests.conftest import STACK_CONFIG, RecordingMocks, run_stack

CPU_IMAGE = (
    "763104351884.dkr.ecr.eu-west-1.amazonaws.com/"
    "huggingface-pytorch-inference:2.6.0-transformers4.51.3-cpu-py312-ubuntu22.04"
)


def test_the_container_image_is_the_hugging_face_dlc_of_the_stacks_region() -> None:
    assert (
        huggingface_inference_image(
            "eu-west-1", transformers_version="4.51.3", pytorch_version="2.6.0", instance_type=None
        )
        == CPU_IMAGE
    )
    sydney = huggingface_inference_image(
        "ap-southeast-2",
        transformers_version="4.51.3",
        pytorch_version="2.6.0",
        instance_type="ml.m5.large",
    )
    assert ".ap-southeast-2.amazonaws.com/huggingface-pytorch-inference:" in sydney


def test_serverless_serves_the_pinned_model_with_all_it_needs(serverless: RecordingMocks) -> None:
    model = serverless.one("aws:sagemaker/model:Model").inputs
    container = model["primaryContainer"]
    assert container["image"] == CPU_IMAGE
    assert container["environment"] == {
        "HF_MODEL_ID": "Anwarkh1/Skin_Cancer-Image_Classification",
        "HF_MODEL_REVISION": "e37ebda4a662db26d9221c78f6c72b1cb8736ce0",
        "HF_TASK": "image-classification",
        "MMS_DEFAULT_WORKERS_PER_MODEL": "1",
    }
    assert model["enableNetworkIsolation"] is False  # it downloads from the Hub
    (variant,) = serverless.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs[
        "productionVariants"
    ]
    assert variant["serverlessConfig"] == {"memorySizeInMb": 6144, "maxConcurrency": 5}
    assert variant["variantName"] == "AllTraffic"
    assert serverless.of_type("aws:appautoscaling/target:Target") == []


def test_realtime_autoscales_on_invocations_per_instance_with_an_encrypted_volume(
    realtime: RecordingMocks,
) -> None:
    config = realtime.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs
    (variant,) = config["productionVariants"]
    assert (variant["instanceType"], variant["initialInstanceCount"]) == ("ml.m5.large", 1)
    assert config["kmsKeyArn"] == arn(realtime, KEY)
    target = realtime.one("aws:appautoscaling/target:Target").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (1, 2)
    name = endpoint(realtime).outputs["name"]
    assert target["resourceId"] == f"endpoint/{name}/variant/AllTraffic"
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    tracking = realtime.one("aws:appautoscaling/policy:Policy").inputs[
        "targetTrackingScalingPolicyConfiguration"
    ]
    assert tracking["predefinedMetricSpecification"] == {
        "predefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["targetValue"] == 60
    environment = realtime.one("aws:sagemaker/model:Model").inputs["primaryContainer"][
        "environment"
    ]
    assert "MMS_DEFAULT_WORKERS_PER_MODEL" not in environment


def test_instances_with_local_storage_get_no_volume_key() -> None:
    mocks = run_stack(
        {
            **STACK_CONFIG,
            "dermascan:hosting": "realtime",
            "dermascan:realtimeInstanceType": "ml.m5d.large",
        }
    )
    config = mocks.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs
    assert "kmsKeyArn" not in config or config["kmsKeyArn"] is None


@pytest.mark.parametrize(("hosting", "isolated"), [("realtime", True), ("serverless", False)])
def test_weights_from_s3_are_the_only_readable_object_and_isolate_realtime_only(
    hosting: str, isolated: bool
) -> None:
    mocks = run_stack(
        {
            **STACK_CONFIG,
            "dermascan:hosting": hosting,
            "dermascan:modelDataUrl": "s3://models/ham10000/model.tar.gz",
        }
    )
    model = mocks.one("aws:sagemaker/model:Model").inputs
    assert model["enableNetworkIsolation"] is isolated
    assert model["primaryContainer"]["modelDataUrl"] == "s3://models/ham10000/model.tar.gz"
    assert "HF_MODEL_ID" not in model["primaryContainer"]["environment"]
    document = policy_of(mocks.one("aws:iam/rolePolicy:RolePolicy", "model-role-policy"))
    assert statement(document, "ReadModelWeights")["Resource"] == [
        "arn:aws:s3:::models/ham10000/model.tar.gz"
    ]


def test_the_model_role_pulls_its_image_logs_its_endpoint_and_decrypts_with_the_stack_key(
    serverless: RecordingMocks,
) -> None:
    document = policy_of(serverless.one("aws:iam/rolePolicy:RolePolicy", "model-role-policy"))
    (group,) = [g for g in serverless.of_type(LOG_GROUP) if g.name.startswith("model-")]
    assert statement(document, "WriteEndpointLogs")["Resource"] == [
        group.outputs["arn"],
        f"{group.outputs['arn']}:log-stream:*",
    ]
    assert statement(document, "DecryptWithTheStackKey") == {
        "Sid": "DecryptWithTheStackKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [arn(serverless, KEY)],
    }
    assert statement(document, "PullTheInferenceImage")["Resource"] == [
        "arn:aws:ecr:eu-west-1:763104351884:repository/huggingface-pytorch-inference"
    ]
    assert statement(document, "LogInToEcr")["Action"] == ["ecr:GetAuthorizationToken"]
    assert {s["Sid"] for s in document["Statement"]} == {
        "PullTheInferenceImage",
        "LogInToEcr",
        "WriteEndpointLogs",
        "DecryptWithTheStackKey",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hosting": "always-on"}, "hosting"),
        ({"serverless_memory_mb": 3000}, "serverless_memory_mb"),
        ({"serverless_max_concurrency": 500}, "serverless_max_concurrency"),
        ({"min_instances": 3, "max_instances": 2}, "min_instances"),
        ({"model_revision": "main"}, "model_revision"),
        ({"model_data_url": "https://example.org/model.tar.gz"}, "s3://"),
        ({"log_retention_days": 0}, "log_retention_days"),
    ],
)
def test_model_hosting_args_refuse_bad_values(changes: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "account_id": "1",
        "region": "eu-west-1",
        "kms_key_arn": "arn",
        "model_id": "m",
        "model_revision": "e37ebda4a662db26d9221c78f6c72b1cb8736ce0",
    }
    with pytest.raises(ValueError, match=field):
        ModelHostingArgs(**{**base, **changes})  # type: ignore[arg-type]


def test_the_endpoint_is_named_after_its_hosting_and_its_stack() -> None:
    serverless = ModelHostingArgs(
        account_id="1",
        region="eu-west-1",
        kms_key_arn="arn",
        model_id="m",
        model_revision="e37ebda4a662db26d9221c78f6c72b1cb8736ce0",
    )
    assert serverless.hosted_on == "serverless"
    realtime = replace(serverless, hosting="realtime", instance_type="ml.c5.2xlarge")
    assert realtime.hosted_on == "c5-2xlarge"
    name = endpoint_name("model-endpoint-c5-2xlarge", "org/dermascan/prod")
    assert name.startswith("model-endpoint-c5-2xlarge-")
    assert name == endpoint_name("model-endpoint-c5-2xlarge", "org/dermascan/prod")
    assert name != endpoint_name("model-endpoint-c5-2xlarge", "org/dermascan/dev")
    with pytest.raises(ValueError, match="63"):
        endpoint_name("x" * 60, "org/dermascan/prod")


@pytest.mark.parametrize(
    "instance_type", ["ml.c7g.xlarge", "ml.m7g.large", "ml.r7g.2xlarge", "ml.c6gn.xlarge"]
)
def test_graviton_instance_types_are_refused_for_want_of_an_arm_image(instance_type: str) -> None:
    assert is_graviton(instance_type)
    with pytest.raises(ValueError, match=r"instance_type: .*Graviton \(Arm\).*x86"):
        ModelHostingArgs(
            account_id="1",
            region="eu-west-1",
            kms_key_arn="arn",
            model_id="m",
            model_revision="e37ebda4a662db26d9221c78f6c72b1cb8736ce0",
            hosting="realtime",
            instance_type=instance_type,
        )
    with pytest.raises(NoArmImage):
        huggingface_inference_image(
            "eu-west-1",
            transformers_version="4.51.3",
            pytorch_version="2.6.0",
            instance_type=instance_type,
        )


@pytest.mark.parametrize("instance_type", ["ml.m5.large", "ml.c7i.xlarge", "ml.g5.xlarge"])
def test_x86_instance_types_are_not_graviton(instance_type: str) -> None:
    assert not is_graviton(instance_type)


def test_sagemaker_core_has_no_arm_hugging_face_inference_image() -> None:
    """Why Graviton is refused rather than given an Arm image. When sagemaker-core gains one (an
    ``inference_graviton`` scope, as pytorch has), this fails: use it instead of refusing."""
    from sagemaker.core.image_uris import config_for_framework

    assert "inference_graviton" in config_for_framework("pytorch")
    assert set(config_for_framework("huggingface")) == {"training", "inference"}


@pytest.mark.parametrize("hosting", ["serverless", "realtime"])
def test_no_secret_travels_in_an_environment(hosting: str) -> None:
    """SageMaker API Reference, ContainerDefinition, ``Environment``: "Don't include any sensitive
    data in your environment variables" (they are plain text in DescribeModel and in the Pulumi
    state). A private model comes as weights in S3 instead (README, "Private or gated models")."""
    mocks = run_stack({**STACK_CONFIG, "dermascan:hosting": hosting})
    environments = [
        mocks.one("aws:sagemaker/model:Model").inputs["primaryContainer"]["environment"],
        mocks.one("aws:lambda/function:Function").inputs["environment"]["variables"],
    ]
    secret = re.compile(r"TOKEN|SECRET|PASSWORD|CREDENTIAL|API_KEY", re.IGNORECASE)
    assert [name for env in environments for name in env if secret.search(name)] == []
