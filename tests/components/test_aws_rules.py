"""AWS's own rules for what the stack deploys, each checked on what the program registers.

Every test cites where AWS (or the Pulumi provider) states the rule: the document and its
section. Each failed on the stack before issue 12 was fixed. Resource names, ids and ARNs are
read from the resources (the mocks autoname like Pulumi), never spelled.
"""

from __future__ import annotations

import pytest

from tests.conftest import STACK_CONFIG, RecordingMocks, run_stack

MODEL = "aws:sagemaker/model:Model"
WEIGHTS = "s3://models/ham10000/model.tar.gz"


def stack(**config: str) -> RecordingMocks:
    """The stack with Pulumi.yaml's defaults and these ``dermascan:`` settings."""
    return run_stack({**STACK_CONFIG, **{f"dermascan:{k}": v for k, v in config.items()}})


# --- SageMaker --------------------------------------------------------------------------------


@pytest.mark.parametrize(("hosting", "isolated"), [("serverless", False), ("realtime", True)])
def test_serverless_models_are_never_network_isolated(hosting: str, isolated: bool) -> None:
    """SageMaker Developer Guide, "Deploy models with Amazon SageMaker Serverless Inference",
    section "Feature exclusions": serverless inference does not support network isolation (nor
    VPC configuration, GPUs, ...); CreateEndpoint refuses a serverless variant of a model with
    ``EnableNetworkIsolation``. Weights from S3 (``modelDataUrl``) isolate real-time hosting only.
    """
    mocks = stack(hosting=hosting, modelDataUrl=WEIGHTS)
    assert mocks.one(MODEL).inputs["enableNetworkIsolation"] is isolated
