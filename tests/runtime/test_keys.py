"""runtime.keys: ids, owners and the key layout every store, pipeline and stack agree on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.keys import (
    InvalidKey,
    KeyLayout,
    Upload,
    check_id,
    derived_id,
    id_time,
    new_id,
    owner_for_identity,
)

WHEN = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


# --- ids ---------------------------------------------------------------------------------------


def test_ids_sort_newest_first() -> None:
    older, newer = new_id(WHEN), new_id(WHEN + timedelta(milliseconds=1))
    assert newer < older


@given(st.lists(st.integers(0, 10**12), min_size=2, max_size=20, unique=True))
def test_ids_sort_newest_first_for_any_times(millis: list[int]) -> None:
    times = [datetime.fromtimestamp(m / 1000, UTC) for m in millis]
    ids = [new_id(t) for t in times]
    newest_first = [i for _, i in sorted(zip(times, ids, strict=True), reverse=True)]
    assert sorted(ids) == newest_first


def test_an_id_tells_when_it_was_made() -> None:
    assert id_time(new_id(WHEN)) == WHEN
    assert id_time(derived_id("uploads/local/x.jpg", WHEN)) == WHEN


def test_ids_of_the_same_millisecond_are_unique() -> None:
    assert len({new_id(WHEN) for _ in range(1000)}) == 1000


def test_ids_made_in_quick_succession_sort_in_the_order_made() -> None:
    made = [new_id() for _ in range(2000)]  # many per millisecond
    assert sorted(made, reverse=True) == made


def test_ids_made_by_many_threads_are_unique_and_ordered_per_thread() -> None:
    per_thread: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(new_id() for _ in range(500))

    threads = [threading.Thread(target=make, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({i for made in per_thread for i in made}) == 2000
    assert all(sorted(made, reverse=True) == made for made in per_thread)


def test_check_id_refuses_anything_else() -> None:
    prediction_id = new_id(WHEN)
    assert check_id(prediction_id) == prediction_id
    for bad in ["", "../etc/passwd", "x" * 23, new_id(WHEN) + "0", new_id(WHEN).upper() + "G"]:
        with pytest.raises(InvalidKey):
            check_id(bad)


def test_keys_carry_owner_and_id_but_no_file_name() -> None:
    layout = KeyLayout()
    prediction_id = new_id(WHEN)
    assert layout.upload_key("local", prediction_id, "jpg") == f"uploads/local/{prediction_id}.jpg"
    assert (
        layout.prediction_key("local", prediction_id) == f"predictions/local/{prediction_id}.json"
    )
    assert layout.thumbnail_key("local", prediction_id) == f"thumbnails/local/{prediction_id}.jpg"


def test_upload_keys_parse_back_to_their_parts() -> None:
    layout = KeyLayout()
    prediction_id = new_id(WHEN)
    key = f"uploads/u-abc/{prediction_id}.webp"
    upload = layout.parse_upload_key(key)
    assert upload == Upload(owner="u-abc", id=prediction_id, key=key)
    assert upload.extension == "webp"


def test_an_upload_named_by_another_tool_gets_an_id_from_its_key_and_time() -> None:
    layout = KeyLayout()
    upload = layout.upload_for("uploads/local/My Photo.JPG", WHEN)
    assert upload == Upload("local", derived_id("uploads/local/My Photo.JPG", WHEN), upload.key)
    assert upload.key == "uploads/local/My Photo.JPG"
    assert upload.extension == "jpg"
    assert layout.upload_for("uploads/local/My Photo.JPG", WHEN) == upload  # redelivery
    with pytest.raises(InvalidKey):
        layout.upload_for("uploads/local/My Photo.JPG")  # no time to derive an id from


@pytest.mark.parametrize(
    ("format_name", "extension"),
    [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "bin"), (None, "bin")],
)
def test_new_uploads_are_named_by_their_content_never_their_file_name(
    format_name: str | None, extension: str
) -> None:
    upload = KeyLayout().new_upload("local", format_name)
    assert upload.key == f"uploads/local/{upload.id}.{extension}"
    assert check_id(upload.id) == upload.id


@pytest.mark.parametrize(
    "key",
    [
        "predictions/local/{id}.json",
        "uploads/{id}.jpg",
        "uploads/local/{id}",
        "uploads/Local/{id}.jpg",
        "uploads/local/my photo.jpg",
        "uploads/local/../{id}.jpg",
        "uploads/local/sub/{id}.jpg",
        "uploads/local/{id}.jpg.exe",
    ],
)
def test_keys_outside_the_layout_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        KeyLayout().parse_upload_key(key.format(id=new_id(WHEN)))


def test_prefixes_must_not_nest_so_results_never_trigger_processing() -> None:
    with pytest.raises(ValueError, match="must not nest"):
        KeyLayout(uploads="data/", predictions="data/results/")
    with pytest.raises(ValueError, match="look like"):
        KeyLayout(uploads="uploads")


HOSPITAL = "https://login.hospital.example"
CLINIC = "https://id.clinic.example/realms/staff"


def test_owners_for_identities_are_opaque_stable_slugs() -> None:
    owner = owner_for_identity(HOSPITAL, "jane.doe@clinic.example")
    assert owner == owner_for_identity(HOSPITAL, "jane.doe@clinic.example")
    assert owner != owner_for_identity(HOSPITAL, "john@clinic.example")
    assert "jane" not in owner
    assert "hospital" not in owner
    assert KeyLayout().owner_uploads(owner) == f"uploads/{owner}/"


def test_the_same_subject_at_another_issuer_is_another_owner() -> None:
    # Subjects are unique only within their issuer: two providers may both have a "1234".
    assert owner_for_identity(HOSPITAL, "1234") != owner_for_identity(CLINIC, "1234")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("https://a.example", "b|c"), ("https://a.example|b", "c")),
        (("https://a.example/", "x"), ("https://a.example", "/x")),
        (("https://a.example", "x"), ("https://a.example/", "x")),  # issuers match exactly
    ],
)
def test_issuer_and_subject_never_run_together(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    assert owner_for_identity(*first) != owner_for_identity(*second)


@pytest.mark.parametrize(("issuer", "subject"), [("", "1234"), (HOSPITAL, ""), ("", "")])
def test_an_identity_without_issuer_or_subject_has_no_owner(issuer: str, subject: str) -> None:
    with pytest.raises(ValueError, match="both an issuer and a subject"):
        owner_for_identity(issuer, subject)


@pytest.mark.parametrize("owner", ["", "Local", "a/b", "..", "-x", "a" * 64, "ü"])
def test_unsafe_owners_are_refused(owner: str) -> None:
    with pytest.raises(InvalidKey):
        KeyLayout().owner_uploads(owner)


# --- the layout as the stack sees it ----------------------------------------------------------


def test_the_layout_names_every_prefix_and_its_variable() -> None:
    layout = KeyLayout(uploads="in/", predictions="out/", thumbnails="thumbs/")
    assert layout.prefixes() == {
        "uploads": "in/",
        "predictions": "out/",
        "thumbnails": "thumbs/",
        "cases": "cases/",
        "references": "references/",
        "explanations": "explanations/",
        "explain_requests": "explain-requests/",
        "outcomes": "outcomes/",
    }
    assert layout.environment()["UPLOADS_PREFIX"] == "in/"
    assert layout.environment()["EXPLAIN_REQUESTS_PREFIX"] == "explain-requests/"
    assert len(layout.environment()) == 8


def test_who_does_what_with_each_prefix() -> None:
    layout = KeyLayout()
    assert set(layout.notified()) == {"uploads", "explain_requests", "outcomes"}
    assert set(layout.function_writes()) == {"predictions", "thumbnails", "explanations"}
    # The function reads its inputs and what it wrote; never the reference index.
    assert set(layout.function_reads()) == set(layout.prefixes()) - {"references"}
    # Nothing the function writes is notified: processing cannot trigger itself.
    assert not set(layout.function_writes()) & set(layout.notified())
    # Nor does the app write where the function writes.
    assert not set(layout.app_writes()) & set(layout.function_writes())


def test_a_notified_key_is_routed_by_its_prefix_field() -> None:
    layout = KeyLayout(uploads="in/", explain_requests="why/", outcomes="truth/")
    assert layout.notified_kind("in/local/x.jpg") == "uploads"
    assert layout.notified_kind("why/local/x.json") == "explain_requests"
    assert layout.notified_kind("truth/local/x/y.json") == "outcomes"
    assert layout.notified_kind("predictions/local/x.json") is None
    assert layout.notified_kind("uploads/local/x.jpg") is None  # the default is not this layout


def test_the_layout_survives_the_environment_whatever_order_it_is_read_in() -> None:
    layout = KeyLayout(uploads="in/", predictions="out/", thumbnails="thumbs/")
    reversed_env = dict(reversed(list(layout.environment().items())))
    assert KeyLayout.from_environment(reversed_env) == layout
    assert KeyLayout.from_environment({}) == KeyLayout()
    assert KeyLayout.from_environment({"THUMBNAILS_PREFIX": "t/"}) == KeyLayout(thumbnails="t/")


def test_every_key_of_a_result_carries_owner_and_id_and_never_a_clinics_code() -> None:
    layout = KeyLayout()
    i, entry = new_id(WHEN), new_id(WHEN)
    digest = "0123456789abcdef0123456789abcdef"
    assert layout.case_key("u-1", i) == f"cases/u-1/{i}.json"
    assert layout.reference_key("u-1", digest, i) == f"references/u-1/{digest}/{i}"
    assert layout.explanation_keys("u-1", i) == (
        f"explanations/u-1/{i}.png",
        f"explanations/u-1/{i}.json",
    )
    assert layout.explain_request_key("u-1", i) == f"explain-requests/u-1/{i}.json"
    assert layout.parse_explain_request_key(f"explain-requests/u-1/{i}.json") == ("u-1", i)
    assert layout.outcome_key("u-1", i, entry) == f"outcomes/u-1/{i}/{entry}.json"
    assert layout.parse_outcome_key(f"outcomes/u-1/{i}/{entry}.json") == ("u-1", i, entry)
    assert layout.owner_prefixes("u-1") == [f"{p}u-1/" for p in layout.prefixes().values()]
    with pytest.raises(InvalidKey):
        layout.reference_prefix("u-1", "P-1042")  # a code, not a digest
    with pytest.raises(InvalidKey):
        layout.parse_explain_request_key(f"explain-requests/u-1/{i}.png")
    with pytest.raises(InvalidKey):
        layout.parse_outcome_key(f"outcomes/u-1/{i}.json")
