"""The Hugging Face inference container's image for a region, from sagemaker-core, offline."""

from __future__ import annotations

import re
from functools import cache

# Graviton (Arm) families: a generation digit then "g" (c6g, c6gn, m7g, r7gd, c8g, ...). GPU
# families start with "g" (g5, g6e) and are x86.
_GRAVITON = re.compile(r"ml\.[a-z]+\d+g[a-z]*\..+")


def is_graviton(instance_type: str) -> bool:
    """Whether a SageMaker instance type runs on Arm (AWS Graviton)."""
    return _GRAVITON.fullmatch(instance_type) is not None


class NoArmImage(ValueError):
    """The Hugging Face inference container has no Arm image for a Graviton instance type."""

    def __init__(self, instance_type: str) -> None:
        super().__init__(
            f"{instance_type} is a Graviton (Arm) instance type, and sagemaker-core knows no Arm "
            "image of the Hugging Face inference container (its x86 image cannot start there); "
            "choose an x86 type such as ml.c7i.xlarge or ml.m5.large, or serverless hosting"
        )


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

    Raises:
        NoArmImage: ``instance_type`` is a Graviton type. sagemaker-core refuses some of them
            and, for others (m7g, r7g), silently returns the x86 image.
    """
    if instance_type is not None and is_graviton(instance_type):
        raise NoArmImage(instance_type)
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
