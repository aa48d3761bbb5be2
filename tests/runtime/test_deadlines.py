"""runtime.deadlines: no endpoint attempt starts that could outlive the current deadline."""

from __future__ import annotations

import time

import boto3
import pytest

from runtime.classifiers import SageMakerClassifier, sagemaker_client_config
from runtime.deadlines import DeadlineExceeded, RequestDeadline
from tests.aws import REGION, EndpointDouble


@pytest.fixture
def guarded(mocked_aws: None) -> tuple[SageMakerClassifier, RequestDeadline, float]:
    client = boto3.client(
        "sagemaker-runtime", region_name=REGION, config=sagemaker_client_config(3, 2.0)
    )
    EndpointDouble().attach(client)
    deadline = RequestDeadline()
    budget = deadline.attach(client, "sagemaker-runtime.InvokeEndpoint")
    return SageMakerClassifier(client, "endpoint"), deadline, budget


def test_an_attempt_that_fits_runs_and_one_that_does_not_is_never_started(
    guarded: tuple[SageMakerClassifier, RequestDeadline, float], sample_jpeg: bytes
) -> None:
    from runtime.images import prepare

    classifier, deadline, budget = guarded
    assert budget == 3.0 + 2.0  # connect + read timeouts of the client
    jpeg = prepare(sample_jpeg).jpeg
    with deadline.until(time.monotonic() + budget + 1):
        assert len(classifier.classify(jpeg)) == 7
    with (
        deadline.until(time.monotonic() + budget - 1),
        pytest.raises(DeadlineExceeded, match=r"may take 5\.0 s and [34]\.\d s are left"),
    ):
        classifier.classify(jpeg)
    assert len(classifier.classify(jpeg)) == 7  # outside a deadline nothing is checked
