"""With sign-in configured, each user has their own owner prefix and sees only their own data."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from runtime.keys import owner_for_identity
from tests.app.conftest import new_app
from tests.app.test_local_app import classify_upload, opened_ids, texts

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32}


def signed_in(subject: str) -> AppTest:
    at = new_app()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "sub": subject, "email": f"{subject}@clinic.example"}
    return at


def test_nobody_signed_in_sees_a_sign_in_button_and_no_data(local_env: Path) -> None:
    at = new_app()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
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
    assert [p.name for p in stored] == [owner_for_identity("alice")]  # keyed by a hash

    bob = signed_in("bob")
    bob.query_params["id"] = alices_id
    bob.switch_page("app_pages/prediction.py").run()
    assert "No result with this id was found among your results" in texts(bob)

    bob.switch_page("app_pages/history.py").run()
    assert "No results yet" in texts(bob)

    alice.switch_page("app_pages/history.py").run()
    assert opened_ids(alice) == [alices_id]
