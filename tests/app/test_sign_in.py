"""With sign-in configured, each user has their own owner prefix and sees only their own data.

These tests replace ``st.user`` to reach every case quickly; test_sign_in_browser.py goes
through the real ``st.login`` against an identity provider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from runtime.keys import owner_for_identity
from tests.app.conftest import new_app
from tests.app.test_local_app import classify_upload, opened_ids, texts

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32}
HOSPITAL = "https://login.hospital.example"
CLINIC = "https://id.clinic.example/realms/staff"
NO_IDENTITY = "Your identity provider did not say who you are"


def with_user(user: dict[str, Any]) -> AppTest:
    at = new_app()
    at.secrets["auth"] = AUTH
    at.user = user
    return at


def signed_in(subject: str, issuer: str = HOSPITAL) -> AppTest:
    return with_user(
        {"is_logged_in": True, "iss": issuer, "sub": subject, "email": "same@clinic.example"}
    )


def test_nobody_signed_in_sees_a_sign_in_button_and_no_data(local_env: Path) -> None:
    at = with_user({"is_logged_in": False})
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.file_uploader


def test_a_signed_in_user_cannot_open_another_users_result(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    alice = classify_upload(signed_in("alice"), "mole.jpg", sample_paths["nv"].read_bytes())
    alices_id = alice.session_state["last_id"]
    stored = list((local_env / "uploads").iterdir())
    # Keyed by a hash of issuer and subject, not by the e-mail both users share here.
    assert [p.name for p in stored] == [owner_for_identity(HOSPITAL, "alice")]

    bob = signed_in("bob")
    bob.query_params["id"] = alices_id
    bob.switch_page("app_pages/prediction.py").run()
    assert "No result with this id was found among your results" in texts(bob)

    bob.switch_page("app_pages/history.py").run()
    assert "No results yet" in texts(bob)

    alice.switch_page("app_pages/history.py").run()
    assert opened_ids(alice) == [alices_id]


def test_the_same_subject_from_another_issuer_is_another_user(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at_hospital = classify_upload(signed_in("1234"), "mole.jpg", sample_paths["nv"].read_bytes())
    hospital_id = at_hospital.session_state["last_id"]

    at_clinic = signed_in("1234", issuer=CLINIC)
    at_clinic.switch_page("app_pages/history.py").run()
    assert not at_clinic.exception, at_clinic.exception
    assert "No results yet" in texts(at_clinic)
    at_clinic.query_params["id"] = hospital_id
    at_clinic.switch_page("app_pages/prediction.py").run()
    assert "No result with this id was found among your results" in texts(at_clinic)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "1234", "email": "jane@clinic.example"},  # no issuer
        {"iss": HOSPITAL, "email": "jane@clinic.example"},  # no subject: never the e-mail
        {"iss": "", "sub": "1234"},
        {"iss": HOSPITAL, "sub": 1234},  # not a string: no provider sends that
    ],
    ids=["no-issuer", "no-subject", "empty-issuer", "numeric-subject"],
)
@pytest.mark.parametrize("page", ["app_pages/classify.py", "app_pages/history.py"])
def test_an_identity_without_issuer_or_subject_is_told_so_and_sees_no_data(
    local_env: Path, sample_paths: dict[str, Path], claims: dict[str, Any], page: str
) -> None:
    # Someone's data exists, under the shared default and under a real identity.
    classify_upload(new_app(), "shared.jpg", sample_paths["nv"].read_bytes())
    classify_upload(signed_in("1234"), "mine.jpg", sample_paths["mel"].read_bytes())

    at = with_user({"is_logged_in": True, **claims})
    at.switch_page(page).run()

    assert not at.exception, at.exception
    assert NO_IDENTITY in texts(at)
    assert [b.label for b in at.button] == ["Sign out"]
    assert not at.file_uploader
    assert opened_ids(at) == []
    assert "No results yet" not in texts(at)
