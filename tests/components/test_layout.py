"""The stack follows the one key layout: notifications, lifecycle, IAM scopes, environment.

``__main__.py`` builds one ``KeyLayout`` and hands it to Storage and Compute. Each test reads
what the components registered and compares it with the layout, by prefix name, for the
stack's own layout and for a different one, so a copy of a prefix anywhere in the components
(or a mapping by position) fails here.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from components.compute import Compute, ComputeArgs
from components.storage import Storage, StorageArgs
from runtime.keys import KeyLayout
from tests.components.conftest import BUCKET, arn, policy_of, statement
from tests.conftest import RecordingMocks, install

OTHER = KeyLayout(
    uploads="incoming/",
    predictions="records/",
    thumbnails="model-inputs/",
    cases="case-details/",
    references="case-index/",
    explanations="maps/",
    explain_requests="map-requests/",
    outcomes="confirmed/",
)


def layers_with(layout: KeyLayout, tmp_path: Path) -> RecordingMocks:
    """Storage and Compute, as ``__main__.py`` wires them, with ``layout``."""
    mocks = RecordingMocks("eu-west-1")
    install(mocks)
    code = tmp_path / "code.zip"
    code.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip: the mocks never read it

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        storage = Storage("storage", StorageArgs("123456789012", "eu-west-1", layout=layout))
        Compute(
            "compute",
            ComputeArgs(
                account_id="123456789012",
                function_zip=str(code),
                layer_zip=str(code),
                bucket_name=storage.bucket.bucket,
                bucket_arn=storage.bucket.arn,
                queue_arn=storage.queue.arn,
                queue_visibility_timeout_seconds=1800,
                kms_key_arn=storage.key.arn,
                endpoint_name="endpoint",
                endpoint_arn="arn:aws:sagemaker:eu-west-1:123456789012:endpoint/endpoint",
                model_id="org/model",
                model_revision="0" * 40,
                max_concurrency=2,
                layout=layout,
            ),
        )

    program()
    return mocks


@pytest.fixture(params=["stack", "other"])
def wired(
    request: pytest.FixtureRequest, serverless: RecordingMocks, tmp_path: Path
) -> tuple[KeyLayout, RecordingMocks]:
    """The whole stack with its own layout, or the two layers with another one."""
    if request.param == "stack":
        return KeyLayout(), serverless
    return OTHER, layers_with(OTHER, tmp_path)


def test_exactly_the_notified_prefixes_are_notified(
    wired: tuple[KeyLayout, RecordingMocks],
) -> None:
    layout, mocks = wired
    queues = mocks.one("aws:s3/bucketNotification:BucketNotification").inputs["queues"]
    assert sorted(q["filterPrefix"] for q in queues) == sorted(
        [layout.uploads, layout.explain_requests, layout.outcomes]
    )
    assert not {q["filterPrefix"] for q in queues} & set(layout.function_writes().values())


def test_the_app_may_write_what_users_give_and_read_and_delete_all(
    wired: tuple[KeyLayout, RecordingMocks],
) -> None:
    layout, mocks = wired
    document = policy_of(mocks.one("aws:iam/policy:Policy", "storage-app-access"))
    bucket = arn(mocks, BUCKET, "storage-images")
    everything = sorted(f"{bucket}/{prefix}*" for prefix in layout.prefixes().values())
    assert statement(document, "Write")["Resource"] == sorted(
        f"{bucket}/{prefix}*"
        for prefix in (
            layout.uploads,
            layout.cases,
            layout.references,
            layout.explain_requests,
            layout.outcomes,
        )
    )
    assert statement(document, "ReadTheLayout")["Resource"] == everything
    assert statement(document, "DeleteEveryVersion")["Resource"] == everything


def test_everything_the_pipeline_stores_expires(wired: tuple[KeyLayout, RecordingMocks]) -> None:
    layout, mocks = wired
    (images,) = [
        r
        for r in mocks.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if r.name == "storage-images-lifecycle"
    ]
    rules = {rule["id"]: rule["filter"]["prefix"] for rule in images.inputs["rules"]}
    assert rules == {f"expire-{name}": prefix for name, prefix in layout.prefixes().items()}


def test_the_function_reads_uploads_and_writes_results_only(
    wired: tuple[KeyLayout, RecordingMocks],
) -> None:
    layout, mocks = wired
    document = policy_of(mocks.one("aws:iam/rolePolicy:RolePolicy", "compute-role-policy"))
    bucket = arn(mocks, BUCKET, "storage-images")
    results = sorted(f"{bucket}/{prefix}*" for prefix in layout.function_writes().values())
    assert statement(document, "WriteResults")["Resource"] == results
    reads = statement(document, "ReadInputsAndResults")["Resource"]
    assert reads == sorted(f"{bucket}/{prefix}*" for prefix in layout.function_reads().values())
    assert f"{bucket}/{layout.references}*" not in reads  # the function never needs them


def test_the_function_is_told_the_layout(wired: tuple[KeyLayout, RecordingMocks]) -> None:
    layout, mocks = wired
    variables = mocks.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    told = {name: value for name, value in variables.items() if name.endswith("_PREFIX")}
    assert told == layout.environment()
    assert KeyLayout.from_environment(variables) == layout
