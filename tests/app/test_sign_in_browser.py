"""Sign-in for real: ``streamlit run`` with an ``[auth]`` section, Chromium clicking through
Streamlit's own ``st.login`` redirect and code flow against a local OpenID Connect provider.

Nothing here replaces ``st.user``: the provider signs an ID token with a key made for this test,
Streamlit (through Authlib) checks it, and the app derives the owner from what it verified.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from runtime.keys import owner_for_identity
from tests.app.conftest import ServedApp, choose_file
from tests.app.oidc_provider import Identity, Provider

JANE = Identity(subject="248289761001", email="jane.doe@clinic.example", name="Jane Doe")


@pytest.fixture
def provider() -> Iterator[Provider]:
    client_secret = secrets.token_urlsafe(24)
    with Provider(client_id="dermascan", client_secret=client_secret, identity=JANE) as running:
        yield running


def write_secrets(path: Path, provider: Provider) -> Path:
    """Streamlit's secrets for sign-in through ``provider``, in a file outside the repository."""
    path.write_text(
        "[auth]\n"
        # Streamlit fills in the port it serves on.
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        f'client_id = "{provider.client_id}"\n'
        f'client_secret = "{provider.client_secret}"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n'
    )
    return path


@pytest.fixture
def signed_in_app(
    serve: ServedApp, provider: Provider, tmp_path: Path, tiny_model_dir: Path
) -> tuple[str, Path]:
    """The app on the local backend with sign-in through ``provider``; its URL and data dir."""
    data_dir = tmp_path / "data"
    url = serve.start(
        {
            "DERMASCAN_BACKEND": "local",
            "DERMASCAN_MODEL": str(tiny_model_dir),
            "DERMASCAN_DATA_DIR": str(data_dir),
            # Only this file: never the repository's or the user's .streamlit/secrets.toml.
            "STREAMLIT_SECRETS_FILES": str(write_secrets(tmp_path / "secrets.toml", provider)),
        }
    )
    provider.redirect_uris.append(f"{url}/oauth2callback")  # registered like a real client
    return url, data_dir


def test_sign_in_through_the_provider_keeps_uploads_under_the_issuer_and_subject_owner(
    signed_in_app: tuple[str, Path],
    provider: Provider,
    page: Page,
    sample_paths: dict[str, Path],
) -> None:
    url, data_dir = signed_in_app
    page.goto(url)
    sign_in = page.get_by_role("button", name="Sign in")
    expect(sign_in).to_be_visible(timeout=60_000)
    expect(page.locator('input[type="file"]')).to_have_count(0)

    sign_in.click()

    signed_in_as = page.get_by_text(f"Signed in as {JANE.email}")
    expect(signed_in_as).to_be_visible(timeout=60_000)
    assert page.url.rstrip("/") == url  # back on the app, past the callback
    assert provider.events == ["authorize", "token"], provider.events
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible()

    choose_file(page, sample_paths["mel"], on_fresh_page=lambda: None)
    expect(page.get_by_role("link", name="Details and provenance")).to_be_visible(timeout=120_000)

    owner = owner_for_identity(provider.issuer, JANE.subject)
    # The same subject from another provider is somebody else: the owner depends on the issuer.
    assert owner != owner_for_identity("https://another-provider.example", JANE.subject)
    uploads = sorted((data_dir / "uploads").iterdir())
    assert [p.name for p in uploads] == [owner], "the upload is not under the identity's owner"
    assert len(list(uploads[0].iterdir())) == 1

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    expect(signed_in_as).to_have_count(0)
    expect(page.locator('input[type="file"]')).to_have_count(0)
    assert provider.events == ["authorize", "token", "end_session"], provider.events
