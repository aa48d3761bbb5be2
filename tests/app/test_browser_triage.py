"""Triage safety in a real browser: risk first, no injected markup, no stale result on screen."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
from playwright.sync_api import Page, expect

from runtime.classifiers import TransformersClassifier
from runtime.keys import KeyLayout, new_id
from runtime.labels import CLASSES
from runtime.pipeline import process_upload
from runtime.records import ImageInfo, ModelInfo, Prediction, Timings
from runtime.stores import LocalStore, S3Store
from tests.app.conftest import ServedApp, choose_file
from tests.aws import REGION

LAYOUT = KeyLayout()
# A confident benign keratosis with actinic keratosis (malignant) behind it: the top class
# alone would reassure, the malignant total must not.
KERATOSIS_OVER_AKIEC = dict.fromkeys(CLASSES, 0.004) | {"bkl": 0.66, "akiec": 0.32}


def stored_record(data_dir: Path, scores: dict[str, float]) -> str:
    """A record as the pipeline leaves it, written straight into the local store."""
    store = LocalStore(data_dir)
    prediction_id = new_id()
    key = LAYOUT.upload_key("local", prediction_id, "jpg")
    store.put(key, b"\xff\xd8\xff", "image/jpeg")
    record = Prediction.ok(
        id=prediction_id,
        owner="local",
        upload_key=key,
        scores=scores,
        model=ModelInfo(id="org/model", revision="0" * 40, backend="transformers"),
        image=ImageInfo(sha256="0" * 64, bytes=3, width=600, height=450, format="JPEG"),
        timings_ms=Timings(1.0, 2.0, 3.0),
        created_at=datetime.now(UTC),
    )
    store.put(LAYOUT.prediction_key("local", prediction_id), record.to_json().encode(), "x")
    return prediction_id


def test_a_benign_top_class_over_a_malignant_runner_up_is_shown_as_a_referral(
    serve: ServedApp, page: Page, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    prediction_id = stored_record(data, KERATOSIS_OVER_AKIEC)
    url = serve.start({"DERMASCAN_BACKEND": "local", "DERMASCAN_DATA_DIR": str(data)})

    page.goto(f"{url}/prediction?id={prediction_id}")
    heading = page.get_by_role("heading", name="Refer: malignant classes 33%")
    expect(heading).to_be_visible(timeout=60_000)
    expect(page.get_by_text("at or over the referral threshold of 25%")).to_be_visible()
    expect(page.get_by_text("malignant runner-up")).to_be_visible()
    body = page.locator("body").inner_text()
    assert "Actinic keratosis / intraepithelial carcinoma (akiec), 32%" in body
    assert "benign class" not in body
    assert "No malignant signal" not in body
    # Risk leads: the referral heading comes before the top class in the page.
    assert body.index("Refer: malignant classes") < body.index("Top class:")


def test_a_crafted_prediction_link_puts_no_link_or_image_on_the_page(
    serve: ServedApp, page: Page, tmp_path: Path
) -> None:
    url = serve.start({"DERMASCAN_BACKEND": "local", "DERMASCAN_DATA_DIR": str(tmp_path)})
    crafted = (
        "[Your biopsy result is ready - sign in](https://evil.example/login) "
        "![x](https://evil.example/pixel.png) :red[**URGENT**] <b>bold</b>"
    )
    page.goto(f"{url}/prediction", wait_until="domcontentloaded")
    page.goto(f"{url}/prediction?id={crafted}")
    expect(page.get_by_text("the id in it is malformed")).to_be_visible(timeout=60_000)
    assert page.locator('a[href*="evil.example"]').count() == 0
    assert page.locator('img[src*="evil.example"]').count() == 0
    assert "biopsy" not in page.locator("body").inner_text()


def test_a_new_upload_takes_the_previous_result_off_the_screen_at_once(
    serve: ServedApp,
    page: Page,
    moto_server: str,
    tiny_model_dir: Path,
    sample_paths: dict[str, Path],
) -> None:
    """On the AWS backend the test plays the Lambda function, so it decides when the second
    record appears: until then, nothing of the first result may be on the page."""
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name=REGION)
    s3.create_bucket(Bucket="stale", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    store = S3Store(s3, "stale")
    classifier = TransformersClassifier(str(tiny_model_dir))
    url = serve.start(
        {
            "DERMASCAN_BACKEND": "aws",
            "DERMASCAN_BUCKET": "stale",
            "AWS_ENDPOINT_URL": moto_server,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
    )

    def the_lambda_runs() -> str:
        """Classify the one upload that has no record yet; return its id."""
        for key in store.list_keys("uploads/shared/", 10).keys:
            upload = LAYOUT.parse_upload_key(key)
            if not store.exists(LAYOUT.prediction_key(upload.owner, upload.id)):
                process_upload(key, store=store, classifier=classifier)
                return upload.id
        raise AssertionError("no upload is waiting")

    page.goto(url)
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=60_000)

    choose_file(page, sample_paths["mel"], on_fresh_page=lambda: None)
    expect(page.get_by_text("Classifying...")).to_be_visible(timeout=30_000)
    first = the_lambda_runs()
    first_link = page.locator(f'a[href*="id={first}"]')
    expect(first_link).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name="malignant classes")).to_be_visible()
    expect(page.locator('[data-testid="stImage"]')).to_have_count(1)

    choose_file(page, sample_paths["nv"])
    expect(page.get_by_text("Classifying...")).to_be_visible(timeout=30_000)
    # The second image is stored and waiting: the first result is gone, text and image. (The
    # record cannot appear meanwhile: the test is the Lambda; the timeout only allows for a
    # loaded machine.)
    expect(first_link).to_have_count(0, timeout=30_000)
    expect(page.get_by_role("heading", name="malignant classes")).to_have_count(0)
    expect(page.locator('[data-testid="stImage"]')).to_have_count(0)
    expect(page.locator('[data-testid="stProgress"]')).to_have_count(0)

    second = the_lambda_runs()
    expect(page.locator(f'a[href*="id={second}"]')).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="stImage"]')).to_have_count(1)
    assert second != first


def test_a_file_over_the_limit_is_refused_in_the_page_and_hides_the_earlier_result(
    serve: ServedApp,
    page: Page,
    tmp_path: Path,
    tiny_model_dir: Path,
    sample_paths: dict[str, Path],
) -> None:
    """The browser refuses a file over the server's limit before the app hears of it; the
    page must still say so in words, and not leave the earlier result standing under it."""
    big = tmp_path / "big photo.jpg"
    big.write_bytes(b"\xff\xd8\xff" + bytes(10 * 2**20))  # 10 MiB and 3 bytes
    url = serve.start(
        {
            "DERMASCAN_BACKEND": "local",
            "DERMASCAN_MODEL": str(tiny_model_dir),
            "DERMASCAN_DATA_DIR": str(tmp_path / "data"),
        }
    )
    page.goto(url)
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=60_000)
    choose_file(page, sample_paths["mel"], on_fresh_page=lambda: None)
    chart = page.locator('[data-testid="stProgress"]').first
    expect(chart).to_be_visible(timeout=120_000)

    choose_file(page, big)
    notice = page.get_by_role("alert").filter(has_text="was not uploaded")
    expect(notice).to_be_visible(timeout=30_000)
    expect(notice).to_contain_text("big photo.jpg was not uploaded")
    expect(notice).to_contain_text("at most 10 MB")
    expect(chart).to_be_hidden()
    expect(page.get_by_role("heading", name="malignant classes")).to_be_hidden()

    page.get_by_role("button", name="Remove big photo.jpg").click()
    expect(notice).to_have_count(0)
    expect(chart).to_be_visible()
