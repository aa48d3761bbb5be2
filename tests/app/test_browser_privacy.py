"""In Chromium: deleting a result and all of one's data, and a lesion's timeline, as a clinic
uses them, with the store checked behind the page and axe-core on every page changed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import FloatRect, Page, expect

from runtime.keys import LOCAL_OWNER, SHARED_OWNER, KeyLayout, new_id
from runtime.stores import LocalStore, S3Store, Store
from tests.app.conftest import BUCKET, ServedApp, choose_file
from tests.app.test_browser_clinic import axe_violations, no_horizontal_scroll, within_width
from tests.aws import REGION

LAYOUT = KeyLayout()


def start(serve: ServedApp, page: Page, data: Path, model: Path, size: tuple[int, int]) -> str:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    url = serve.start(
        {
            "DERMASCAN_BACKEND": "local",
            "DERMASCAN_MODEL": str(model),
            "DERMASCAN_DATA_DIR": str(data),
        }
    )
    page.goto(url)
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=60_000)
    return url


def file_under(page: Page, reference: str) -> None:
    """Type the case reference the next upload is filed under."""
    field = page.get_by_label("Case reference (optional)", exact=True)
    field.fill(reference)
    field.press("Tab")
    settle(page)


def classify(
    page: Page,
    image: Path,
    previous: str | None = None,
    on_fresh_page: Callable[[], None] | None = None,
) -> str:
    """Choose ``image`` and wait for its result; its id (``choose_file`` says what
    ``on_fresh_page`` is for)."""
    choose_file(page, image, on_fresh_page=on_fresh_page)
    details = page.get_by_role("link", name="Details and provenance")
    expect(details).to_be_visible(timeout=120_000)
    if previous is not None:
        expect(details).not_to_have_attribute("href", re.compile(previous), timeout=120_000)
    return (details.get_attribute("href") or "").rpartition("id=")[2]


def stored(data: Path, owner: str) -> set[str]:
    """The owner's keys in the store, read from the files behind the app."""
    return {
        path.relative_to(data).as_posix()
        for path in data.glob(f"*/{owner}/**/*")
        if path.is_file() and not any(part.startswith(".") for part in path.parts)
    }


@dataclass(frozen=True)
class Behind:
    """The store behind a served app, read and written without the app's code."""

    url: str
    owner: str
    """Whose data the app's user holds (nobody signs in)."""
    store: Store
    """To plant another owner's data, as a signed-in user's would be."""
    keys: Callable[[str], set[str]]
    """An owner's keys: the files on disk, or the objects S3 lists."""


@pytest.fixture(params=["local", "aws"])
def behind(
    request: pytest.FixtureRequest,
    serve: ServedApp,
    page: Page,
    tmp_path: Path,
    tiny_model_dir: Path,
) -> Behind:
    """The app served on each backend at 1366x900; on AWS a moto bucket, with the Lambda
    handler classifying what the bucket's notifications put on the queue."""
    if request.param == "local":
        data = tmp_path / "data"
        url = start(serve, page, data, tiny_model_dir, (1366, 900))
        return Behind(url, LOCAL_OWNER, LocalStore(data), lambda owner: stored(data, owner))
    request.getfixturevalue("worker")  # the stack's environment, inherited by the served app
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})

    def objects(owner: str) -> set[str]:
        """Every key of ``owner`` with any version or delete marker left, as the stack's
        versioned bucket keeps them."""
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET)
        keys = {
            item["Key"]
            for page in pages
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        }
        return {key for key in keys if key.split("/")[1:2] == [owner]}

    page.set_viewport_size({"width": 1366, "height": 900})
    url = serve.start({})
    page.goto(url)
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=60_000)
    return Behind(url, SHARED_OWNER, S3Store(s3, BUCKET), objects)


def pictured(page: Page, number: int) -> FloatRect:
    """Where the timeline shows result ``number``'s image."""
    box = page.get_by_role("img", name=re.compile(f"^Result {number}, ")).bounding_box()
    assert box is not None, f"result {number}'s image is not on the page"
    return box


def settle(page: Page) -> None:
    page.wait_for_timeout(500)  # the last rerun


def test_delete_one_result_then_all_of_mine_and_nobody_elses(
    behind: Behind, page: Page, sample_paths: dict[str, Path]
) -> None:
    url, mine = behind.url, behind.owner
    # Another owner's data, written straight into the store (as a signed-in user's would be):
    # an upload locally; on AWS its model input, as the function would classify an upload.
    other_id = new_id()
    behind.store.put(LAYOUT.case_key("other", other_id), b"{}", "application/json")
    if behind.owner == LOCAL_OWNER:
        behind.store.put(LAYOUT.upload_key("other", other_id, "jpg"), b"\xff\xd8\xff", "image/jpeg")
    else:
        behind.store.put(LAYOUT.thumbnail_key("other", other_id), b"\xff\xd8\xff", "image/jpeg")
    theirs = behind.keys("other")
    assert len(theirs) == 2

    file_under(page, "P-1")
    doomed = classify(page, sample_paths["nv"], on_fresh_page=lambda: file_under(page, "P-1"))
    kept = classify(page, sample_paths["bcc"], previous=doomed)
    settle(page)
    assert axe_violations(page) == [], "Classify"
    assert any(doomed in key for key in behind.keys(mine))

    page.goto(f"{url}/prediction?id={doomed}")
    expect(page.get_by_role("heading", name="Delete this result")).to_be_visible(timeout=60_000)
    settle(page)
    assert axe_violations(page) == [], "Prediction"
    delete = page.get_by_role("button", name="Delete this result")
    expect(delete).to_be_disabled()
    page.get_by_text("Yes, delete this result").click()
    expect(delete).to_be_enabled()
    delete.click()

    expect(page.get_by_text("Deleted the result from")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("link", name="Open this result")).to_have_count(1)
    opened = page.get_by_role("link", name="Open this result").get_attribute("href") or ""
    assert opened.endswith(kept)
    left = behind.keys(mine)
    assert not [key for key in left if doomed in key], left
    assert [key for key in left if kept in key]
    settle(page)
    assert axe_violations(page) == [], "History"

    page.goto(f"{url}/prediction?id={doomed}")
    expect(page.get_by_text("this result does not exist or was deleted")).to_be_visible(
        timeout=60_000
    )

    page.goto(f"{url}/history")
    delete_all = page.get_by_role("button", name="Delete all my data")
    expect(delete_all).to_be_disabled(timeout=60_000)
    page.get_by_text("Yes, delete all my data").click()
    expect(delete_all).to_be_enabled()
    delete_all.click()
    expect(page.get_by_text("Deleted all your data")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("link", name="Open this result")).to_have_count(0)
    assert behind.keys(mine) == set()
    assert behind.keys("other") == theirs


def test_two_uploads_with_one_reference_form_its_timeline_oldest_first_phone_and_desktop(
    serve: ServedApp,
    page: Page,
    tmp_path: Path,
    tiny_model_dir: Path,
    sample_paths: dict[str, Path],
) -> None:
    url = start(serve, page, tmp_path / "data", tiny_model_dir, (390, 844))
    file_under(page, "P-77/L2")
    first = classify(page, sample_paths["mel"], on_fresh_page=lambda: file_under(page, "P-77/L2"))
    second = classify(page, sample_paths["nv"], previous=first)

    page.goto(f"{url}/prediction?id={second}")
    expect(page.get_by_role("heading", name="This lesion over time")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("2 results filed under P-77/L2, oldest first")).to_be_visible()
    # The first result is card 1 and links to itself; the second is this page's result.
    link = page.get_by_role("link", name="Open result 1")
    assert (link.get_attribute("href") or "").endswith(first)
    expect(page.get_by_text(re.compile(r"^2\. .*\(this result\)"))).to_be_visible()
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert main.index("1. ") < main.index("2. ")
    assert re.search(r"Melanoma \(mel\): (<1|>99|\d+)% \((no change|[+-]\d+ pts)\)", main)
    settle(page)
    no_horizontal_scroll(page)
    within_width(page, "2 results filed under")
    within_width(page, "Open result 1")
    assert axe_violations(page) == [], "Prediction with a timeline"
    # On the phone one result under the other; on a wide screen side by side, oldest left.
    one, two = pictured(page, 1), pictured(page, 2)
    assert two["y"] > one["y"] + one["height"]
    page.set_viewport_size({"width": 1366, "height": 900})
    settle(page)
    one, two = pictured(page, 1), pictured(page, 2)
    assert two["x"] > one["x"] + one["width"]
    assert abs(two["y"] - one["y"]) < 1
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(f"{url}/history")
    search = page.get_by_label("Find a case reference", exact=True)
    search.fill("p-77/l2")
    search.press("Enter")
    expect(page.get_by_text("2 results filed under P-77/L2, oldest first")).to_be_visible(
        timeout=60_000
    )
    settle(page)
    no_horizontal_scroll(page)
    assert axe_violations(page) == [], "History timeline"
