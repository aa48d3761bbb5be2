"""Runtime test fixtures: the store contract's two implementations, for tests that must hold on
both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from runtime.stores import LocalStore, S3Store, Store

BUCKET = "dermascan-test"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A data directory, then a moto S3 bucket."""
    if request.param == "local":
        yield LocalStore(tmp_path / "store")
        return
    request.getfixturevalue("mocked_aws")
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    yield S3Store(client, BUCKET)
