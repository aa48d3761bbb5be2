"""Model hosting: the SageMaker model, endpoint config and endpoint, serverless or real-time."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components import _policies
from components.containers import NoArmImage, huggingface_inference_image, is_graviton
from policy.rules import has_local_storage

VARIANT = "AllTraffic"
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
# SageMaker API Reference, CreateEndpoint, EndpointName.
_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


@dataclass(frozen=True)
class ModelHostingArgs:
    """Which model to serve and how. Serverless costs nothing while idle; real-time is faster."""

    account_id: str
    region: str
    kms_key_arn: pulumi.Input[str]
    model_id: str
    model_revision: str
    hosting: Literal["serverless", "realtime"] = "serverless"
    model_data_url: str | None = None
    """``s3://bucket/model.tar.gz`` with the weights. On real-time hosting the container then
    runs network-isolated; serverless inference does not support network isolation."""
    transformers_version: str = "4.51.3"
    pytorch_version: str = "2.6.0"
    serverless_memory_mb: int = 6144
    serverless_max_concurrency: int = 5
    instance_type: str = "ml.m5.large"
    min_instances: int = 1
    max_instances: int = 2
    target_invocations_per_instance: int = 60
    """Per minute: the autoscaling target of a real-time endpoint."""
    log_retention_days: int = 30
    """Days the endpoint's container logs are kept."""

    def __post_init__(self) -> None:
        if self.hosting not in ("serverless", "realtime"):
            raise ValueError(
                f"ModelHostingArgs.hosting must be serverless or realtime, got {self.hosting!r}"
            )
        if self.serverless_memory_mb not in range(1024, 6145, 1024):
            raise ValueError(
                "ModelHostingArgs.serverless_memory_mb must be 1024, 2048, ... or 6144, "
                f"got {self.serverless_memory_mb}"
            )
        if not 1 <= self.serverless_max_concurrency <= 200:
            raise ValueError(
                "ModelHostingArgs.serverless_max_concurrency must be 1-200, "
                f"got {self.serverless_max_concurrency}"
            )
        if not 1 <= self.min_instances <= self.max_instances:
            raise ValueError(
                "ModelHostingArgs needs 1 <= min_instances <= max_instances, got "
                f"{self.min_instances} and {self.max_instances}"
            )
        if not self.instance_type.startswith("ml."):
            raise ValueError(
                f"ModelHostingArgs.instance_type must start with 'ml.', got {self.instance_type!r}"
            )
        if self.hosting == "realtime" and is_graviton(self.instance_type):
            raise ValueError(f"ModelHostingArgs.instance_type: {NoArmImage(self.instance_type)}")
        if self.model_data_url is not None:
            _policies.s3_object_arn(self.model_data_url)  # ValueError names the bad URL
        if self.log_retention_days < 1:
            raise ValueError(
                "ModelHostingArgs.log_retention_days must be positive, "
                f"got {self.log_retention_days}"
            )
        if not re.fullmatch(r"[a-z0-9-]+", self.hosted_on):
            raise ValueError(
                f"ModelHostingArgs.instance_type {self.instance_type!r} cannot name an endpoint"
            )
        if not re.fullmatch(r"[0-9a-f]{40}", self.model_revision):
            raise ValueError(
                "ModelHostingArgs.model_revision must be a full 40-hex commit, got "
                f"{self.model_revision!r}: a branch name lets the model change under you"
            )

    @property
    def hosted_on(self) -> str:
        """What the endpoint runs on, as part of a name: ``serverless`` or the instance type.

        It is in the names of the endpoint and of what hangs off it, so changing either replaces
        them instead of updating the endpoint in place, which AWS refuses: a real-time endpoint
        cannot be updated to serverless (SageMaker Developer Guide, "Update a serverless
        endpoint"), nor an autoscaled variant to another instance type (SageMaker Developer
        Guide, "Update endpoints that use auto scaling").
        """
        if self.hosting == "serverless":
            return "serverless"
        return self.instance_type.removeprefix("ml.").replace(".", "-")

    @property
    def network_isolated(self) -> bool:
        """Whether the container runs without network: only with weights from S3 (it needs
        nothing else) and only on instances. Serverless inference does not support network
        isolation, and CreateEndpoint fails if the model asks for it (SageMaker Developer Guide,
        "Deploy models with Amazon SageMaker Serverless Inference", "Feature exclusions")."""
        return self.model_data_url is not None and self.hosting == "realtime"

    @property
    def concurrency(self) -> int:
        """How many requests the endpoint serves at once: what the function may send."""
        if self.hosting == "serverless":
            return self.serverless_max_concurrency
        return self.max_instances * 2  # two workers per instance on the CPU container


def endpoint_name(logical_name: str, stack: str) -> str:
    """The endpoint's physical name: its logical name and a digest of the stack's identity.

    Pulumi would add a random suffix, but the name must be known before the endpoint exists:
    its log group is named after it and must be created first, or SageMaker creates the group
    itself without retention or key. The digest keeps stacks of one account apart, as the
    random suffix would.

    Args:
        logical_name: the endpoint's logical name (it carries the hosting mode).
        stack: what identifies the stack: organization, project and stack name.

    Raises:
        ValueError: the name would break SageMaker's endpoint-name rule (63 characters).
    """
    name = f"{logical_name}-{hashlib.sha256(stack.encode()).hexdigest()[:8]}"
    if not _ENDPOINT_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid SageMaker endpoint name (at most 63 chars)")
    return name


class ModelHosting(pulumi.ComponentResource):
    """The SageMaker endpoint serving the HAM10000 ViT with the Hugging Face container."""

    role: aws.iam.Role
    endpoint: aws.sagemaker.Endpoint
    endpoint_name: pulumi.Output[str]
    log_group: aws.cloudwatch.LogGroup
    variant_name: str = VARIANT

    def __init__(
        self, name: str, args: ModelHostingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dermascan:index:ModelHosting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        serverless = args.hosting == "serverless"
        # The endpoint and what hangs off it are replaced, not updated, when the hosting mode or
        # the instance type changes (ModelHostingArgs.hosted_on): a new one is made first, the
        # function and the alarms move to it, then the old one is deleted.
        on = args.hosted_on
        stack = f"{pulumi.get_organization() or ''}/{pulumi.get_project()}/{pulumi.get_stack()}"
        physical_name = endpoint_name(f"{name}-endpoint-{on}", stack)
        log_group_name = f"{ENDPOINT_LOG_GROUP_PREFIX}{physical_name}"
        image = huggingface_inference_image(
            args.region,
            transformers_version=args.transformers_version,
            pytorch_version=args.pytorch_version,
            instance_type=None if serverless else args.instance_type,
        )

        self.role = aws.iam.Role(
            f"{name}-role",
            description="dermascan: SageMaker runs the model with this role",
            assume_role_policy=json.dumps(
                _policies.assume_role("sagemaker.amazonaws.com", args.account_id)
            ),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=pulumi.Output.from_input(args.kms_key_arn).apply(
                lambda key_arn: json.dumps(
                    _policies.model_policy(
                        region=args.region,
                        account_id=args.account_id,
                        log_group=log_group_name,
                        key_arn=key_arn,
                        image_repository_arn=_policies.ecr_repository_arn(image),
                        model_data_arn=_policies.s3_object_arn(args.model_data_url)
                        if args.model_data_url
                        else None,
                    )
                )
            ),
            opts=child,
        )

        environment = {"HF_TASK": "image-classification"}
        if args.model_data_url is None:
            environment |= {"HF_MODEL_ID": args.model_id, "HF_MODEL_REVISION": args.model_revision}
        if serverless:
            # The ViT's weights and the container's workers do not fit twice in serverless memory.
            environment["MMS_DEFAULT_WORKERS_PER_MODEL"] = "1"
        model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=self.role.arn,
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                image=image, environment=environment, model_data_url=args.model_data_url
            ),
            # Weights from S3 need no network: on instances the container then cannot reach out.
            enable_network_isolation=args.network_isolated,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

        if serverless:
            variant = aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                variant_name=VARIANT,
                model_name=model.name,
                serverless_config=aws.sagemaker.EndpointConfigurationProductionVariantServerlessConfigArgs(
                    memory_size_in_mb=args.serverless_memory_mb,
                    max_concurrency=args.serverless_max_concurrency,
                ),
            )
            kms_key = None  # serverless endpoints have no volume to encrypt
        else:
            variant = aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                variant_name=VARIANT,
                model_name=model.name,
                instance_type=args.instance_type,
                initial_instance_count=args.min_instances,
            )
            # Instance types with local NVMe storage refuse a KMS key for the volume (they
            # encrypt it with a hardware key of their own); the policy pack holds that list.
            kms_key = None if has_local_storage(args.instance_type) else args.kms_key_arn
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config-{on}", production_variants=[variant], kms_key_arn=kms_key, opts=child
        )
        # SageMaker writes the container's logs to /aws/sagemaker/Endpoints/<name>, creating the
        # group (kept forever, unencrypted) unless it exists: ours exists first.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-endpoint-logs-{on}",
            name=log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint-{on}",
            name=physical_name,
            endpoint_config_name=config.name,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )
        self.endpoint_name = self.endpoint.name

        if not serverless:
            target = aws.appautoscaling.Target(
                f"{name}-scaling-target-{on}",
                service_namespace="sagemaker",
                resource_id=self.endpoint.name.apply(lambda n: f"endpoint/{n}/variant/{VARIANT}"),
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=args.min_instances,
                max_capacity=args.max_instances,
                opts=child,
            )
            aws.appautoscaling.Policy(
                f"{name}-scaling-policy-{on}",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    target_value=float(args.target_invocations_per_instance),
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                    ),
                    scale_in_cooldown=300,
                    scale_out_cooldown=60,
                ),
                opts=child,
            )

        self.register_outputs(
            {
                "endpoint_name": self.endpoint.name,
                "endpoint_arn": self.endpoint.arn,
                "log_group": self.log_group.name,
                "image": image,
            }
        )
