"""On the AWS backend (moto, a versioned bucket, the Lambda handler on the queue): the case
details reach the function's record, and deleting leaves no version of anything behind."""

from __future__ import annotations

from pathlib import Path

import boto3

from app.session import shared_backend
from runtime.keys import KeyLayout, new_id
from tests.app.conftest import BUCKET, QueueWorker, new_app
from tests.app.test_clinic_app import upload, with_case
from tests.app.test_local_app import texts
from tests.aws import REGION

LAYOUT = KeyLayout()


def versions(prefix: str = "") -> set[str]:
    """Every key with any version or delete marker left in the bucket."""
    answer = boto3.client("s3", region_name=REGION).list_object_versions(
        Bucket=BUCKET, Prefix=prefix
    )
    return {item["Key"] for item in [*answer.get("Versions", []), *answer.get("DeleteMarkers", [])]}


def test_case_details_reach_the_lambdas_record_and_deletion_leaves_no_version(
    worker: QueueWorker,
    sample_paths: dict[str, Path],
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    someone = new_id()
    s3.put_object(Bucket=BUCKET, Key=LAYOUT.upload_key("u-someone", someone, "jpg"), Body=b"x")

    at = new_app()
    at.run()
    upload(with_case(at, "P-3", "left shin"), sample_paths["mel"].read_bytes())
    first = at.session_state["last_id"]
    record = shared_backend().result("shared", first)
    assert record is not None
    assert (record.reference, record.note) == ("P-3", "left shin")  # the Lambda copied them
    upload(at, sample_paths["nv"].read_bytes(), "b.jpg")
    second = at.session_state["last_id"]

    page = new_app()
    page.query_params["id"] = first
    page.switch_page("app_pages/prediction.py").run()
    assert "2 results filed under **P-3**, oldest first" in texts(page)
    page.checkbox(key="confirm_delete_result").check().run()
    page.button(key="delete_result").click().run()
    assert not page.exception, page.exception
    assert not [key for key in versions() if first in key]
    assert [key for key in versions() if second in key]

    assert "Deleted the result from" in texts(page)

    page.switch_page("app_pages/history.py").run()
    page.checkbox(key="confirm_delete_all").check().run()
    page.button(key="delete_all").click().run()
    assert not page.exception, page.exception
    assert "Deleted all your data" in texts(page)
    left = versions()
    assert LAYOUT.upload_key("u-someone", someone, "jpg") in left
    assert all("/u-someone/" in key for key in left), left  # theirs stays; nothing of ours
