"""Case details, the privacy notice, the lesion timeline and deletion, driven by AppTest."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.report import report_html
from app.session import shared_backend
from runtime.cases import reference_digest
from tests.app.conftest import new_app
from tests.app.test_browser_clinic import _Text
from tests.app.test_explain_app import images_alt
from tests.app.test_local_app import opened_ids, texts
from tests.app.test_sign_in import signed_in

REFUSED = "A reference is 1 to 40 letters, digits, '.', '_', '/' or '-'"
HOSTILE_NOTE = "<b>x</b> <img src=x onerror=alert(1)> [link](https://evil.example) :red[URGENT]"


def upload(at: AppTest, data: bytes, name: str = "lesion.jpg") -> AppTest:
    at.file_uploader(key="upload").upload(name, data, "image/jpeg").run()
    assert not at.exception, at.exception
    return at


def with_case(at: AppTest, reference: str, note: str = "") -> AppTest:
    at.text_input(key="case_reference").input(reference)
    at.text_area(key="case_note").input(note)
    return at


def unescaped_markup(at: AppTest) -> list[str]:
    """Markdown on the page holding the hostile note's tags without Markdown escapes."""
    raw = [str(e.value) for e in at.markdown]
    return [text for text in raw if re.search(r"(?<!\\)<(?:b|img)", text)]


def test_an_invalid_reference_is_refused_beside_its_field_and_the_image_is_kept(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = new_app()
    at.run()
    upload(with_case(at, "Jane Doe, left arm"), sample_paths["nv"].read_bytes())

    assert REFUSED in texts(at)
    assert "your image will be classified with them" in texts(at)
    assert "last_id" not in at.session_state
    assert not list(local_env.glob("uploads/local/*"))  # nothing stored while refused

    at.text_input(key="case_reference").input("P-1042/L2").run()  # corrected: nothing re-chosen
    assert not at.exception, at.exception
    assert REFUSED not in texts(at)
    prediction_id = at.session_state["last_id"]
    record = shared_backend().result("local", prediction_id)
    assert record is not None
    assert record.reference == "P-1042/L2"


def test_reference_and_note_are_shown_as_text_on_classify_prediction_and_the_report(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = new_app()
    at.run()
    upload(with_case(at, "P-7", HOSTILE_NOTE), sample_paths["mel"].read_bytes())
    assert f"**Note:** {HOSTILE_NOTE}" in texts(at)
    assert "**Reference:** P-7" in texts(at)
    assert unescaped_markup(at) == []

    page = new_app()
    page.query_params["id"] = at.session_state["last_id"]
    page.switch_page("app_pages/prediction.py").run()
    assert not page.exception, page.exception
    assert f"**Note:** {HOSTILE_NOTE}" in texts(page)
    assert unescaped_markup(page) == []

    # The report the page offers, built from the same stored record.
    record = shared_backend().result("local", at.session_state["last_id"])
    assert record is not None
    created = datetime.fromisoformat(record.created_at)
    printed = report_html(record, shared_backend().rule, picture=None, created=created)
    parser = _Text()
    parser.feed(printed)
    text = " ".join(" ".join(parser.parts).split())
    assert "Reference P-7" in text
    assert f"Note {HOSTILE_NOTE}" in text  # as typed, as text: no tag of it became markup
    assert "<img src=x" not in printed


def test_the_privacy_notice_says_what_where_how_long_and_that_the_history_is_shared(
    local_env: Path,
) -> None:
    at = new_app()
    at.run()
    said = texts(at)
    assert "the image itself, a 224x224 copy of it, its 7 scores, and the reference and note" in (
        said
    )
    assert f"in the data directory {local_env.resolve()} on the computer" in said
    assert "How long: until you delete it." in said
    assert "Everyone using this app shares one history" in said


def test_signed_in_the_privacy_notice_says_only_you(
    local_env: Path,
) -> None:
    at = signed_in("alice")
    at.run()
    assert not at.exception, at.exception
    assert "**Only you** can see your results" in texts(at)
    assert "shares one history" not in texts(at)


@pytest.mark.parametrize(
    ("retention", "said"),
    [("14", "at most 14 days (the stack's retention)"), ("", "the stack's retention, 30 days")],
)
def test_on_aws_the_privacy_notice_names_the_bucket_and_its_retention(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch, retention: str, said: str
) -> None:
    for name, value in {
        "DERMASCAN_BACKEND": "aws",
        "DERMASCAN_BUCKET": "dermascan-clinic-bucket",
        "DERMASCAN_RETENTION_DAYS": retention,
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    shared_backend.clear()
    try:
        at = new_app()
        at.run()
        assert not at.exception, at.exception
        assert "in the stack's S3 bucket dermascan-clinic-bucket" in texts(at)
        assert said in texts(at)
        assert "Everyone using this app shares one history" in texts(at)
    finally:
        shared_backend.clear()


def test_a_deleted_result_leaves_history_and_its_address_says_it_was_deleted(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = new_app()
    at.run()
    upload(with_case(at, "P-1"), sample_paths["nv"].read_bytes())
    doomed = at.session_state["last_id"]
    upload(at, sample_paths["bcc"].read_bytes(), "b.jpg")
    kept = at.session_state["last_id"]

    page = new_app()
    page.query_params["id"] = doomed
    page.switch_page("app_pages/prediction.py").run()
    assert page.button(key="delete_result").disabled  # not without the confirmation
    page.checkbox(key="confirm_delete_result").check().run()
    page.button(key="delete_result").click().run()
    assert not page.exception, page.exception
    assert "Deleted the result from" in texts(page)
    assert "the image, its 224x224 copy, the record with its scores" in texts(page)
    assert opened_ids(page) == [kept]
    assert not (local_env / "predictions" / "local" / f"{doomed}.json").exists()
    # Both were filed under P-1 (the fields keep their values): only the deleted one's entry goes.
    markers = local_env.glob(f"references/local/{reference_digest('P-1')}/*")
    assert [marker.name for marker in markers] == [kept]
    assert not list(local_env.glob(f"*/local/{doomed}*"))

    again = new_app()
    again.query_params["id"] = doomed
    again.switch_page("app_pages/prediction.py").run()
    assert not again.exception, again.exception
    assert "this result does not exist or was deleted" in texts(again)


def test_delete_all_needs_its_confirmation_and_says_what_went(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = new_app()
    at.run()
    upload(at, sample_paths["nv"].read_bytes())
    at.switch_page("app_pages/history.py").run()
    assert at.button(key="delete_all").disabled
    assert "everyone using it shares one history, so this deletes theirs too" in texts(at)
    at.checkbox(key="confirm_delete_all").check().run()
    at.button(key="delete_all").click().run()
    assert not at.exception, at.exception
    assert "Deleted all your data: 3 files" in texts(at)
    assert opened_ids(at) == []


def test_history_finds_a_reference_and_refuses_one_that_cannot_be(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = new_app()
    at.run()
    with_case(at, "P-5")
    for code in ("nv", "mel"):
        upload(at, sample_paths[code].read_bytes(), f"{code}.jpg")
    at.switch_page("app_pages/history.py").run()
    assert texts(at).count("Reference: P-5") == 2  # each card says what it is filed under

    at.text_input(key="history_reference").input("p-5").run()
    assert not at.exception, at.exception
    said = texts(at)
    assert "2 results filed under **P-5**, oldest first" in said
    assert said.index("**1. ") < said.index("**2. ")
    # Each result beside its image as the model saw it, so the lesion itself can be compared.
    pictured = [alt for alt in images_alt(at) if alt.startswith("Result ")]
    assert [alt.partition(",")[0] for alt in pictured] == ["Result 1", "Result 2"]
    assert re.search(r"- Melanoma \(mel\): (<1|>99|\d+)% \((no change|[+-]\d+ pts)\)", said)

    at.text_input(key="history_reference").input("<b>x</b>").run()
    assert REFUSED in texts(at)
