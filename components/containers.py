"""The Hugging Face inference container's image for a region, from sagemaker-core, offline."""

from __future__ import annotations

from functools import cache


@cache
def huggingface_inference_image(
    region: str,
    *,
    transformers_version: str,
    pytorch_version: str,
    instance_type: str | None,
) -> str:
    """The ECR image URI of the CPU or GPU inference container.

    Args:
        region: the stack's region (the image lives in that region's DLC registry).
        transformers_version, pytorch_version: full versions, e.g. ``4.51.3`` and ``2.6.0``
            (a short ``2.6`` resolves to a wrong tag).
        instance_type: the real-time instance type, or None for serverless (a CPU image).
    """
    from sagemaker.core import image_uris
    from sagemaker.core.serverless_inference_config import ServerlessInferenceConfig

    return str(
        image_uris.retrieve(
            framework="huggingface",
            region=region,
            version=transformers_version,
            base_framework_version=f"pytorch{pytorch_version}",
            image_scope="inference",
            instance_type=instance_type,
            serverless_inference_config=None if instance_type else ServerlessInferenceConfig(),
        )
    )
