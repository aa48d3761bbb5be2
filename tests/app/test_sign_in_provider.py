"""The test identity provider refuses what a real one refuses, and signs what it says it signs.

test_sign_in_browser.py passes only if Streamlit got through this provider, so these show what
that pass proves: the client authenticated, redeemed its code once with the right PKCE
verifier and redirect URI, and received an ID token that verifies against the published keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.app.oidc_provider import Identity, Provider, b64url

CALLBACK = "http://127.0.0.1:8501/oauth2callback"
SECRET = "s3cret:with/odd&chars"
VERIFIER = secrets.token_urlsafe(48)
JANE = Identity(subject="248289761001", email="jane.doe@clinic.example", name="Jane Doe")


@pytest.fixture
def provider() -> Iterator[Provider]:
    with Provider(client_id="dermascan", client_secret=SECRET, identity=JANE) as running:
        running.redirect_uris.append(CALLBACK)
        yield running


def authorize(provider: Provider, **changes: str) -> requests.Response:
    query = {
        "response_type": "code",
        "client_id": "dermascan",
        "redirect_uri": CALLBACK,
        "scope": "openid email profile",
        "state": "the-state",
        "nonce": "the-nonce",
        "code_challenge": b64url(hashlib.sha256(VERIFIER.encode()).digest()),
        "code_challenge_method": "S256",
        **changes,
    }
    return requests.get(
        f"{provider.issuer}/authorize", params=query, allow_redirects=False, timeout=10
    )


def code_from(answer: requests.Response) -> str:
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["the-state"]
    return query["code"][0]


def redeem(
    provider: Provider, code: str, secret: str = SECRET, **changes: str
) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
        **changes,
    }
    return requests.post(
        f"{provider.issuer}/token", data=form, auth=("dermascan", secret), timeout=10
    )


def verified_claims(provider: Provider, id_token: str) -> dict[str, Any]:
    """The ID token's claims, after checking its RS256 signature against the provider's JWKS."""
    keys = requests.get(provider.metadata()["jwks_uri"], timeout=10).json()["keys"]
    header_part, claims_part, signature_part = id_token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_part + "=="))
    (jwk,) = [k for k in keys if k["kid"] == header["kid"]]
    assert header["alg"] == jwk["alg"] == "RS256"

    def number(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=="), "big")

    public_key = rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()
    public_key.verify(  # raises InvalidSignature
        base64.urlsafe_b64decode(signature_part + "=="),
        f"{header_part}.{claims_part}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(claims_part + "=="))
    return claims


def test_discovery_names_the_issuer_and_its_endpoints(provider: Provider) -> None:
    metadata = requests.get(provider.metadata_url, timeout=10).json()
    assert metadata["issuer"] == provider.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert metadata[endpoint].startswith(provider.issuer + "/")


def test_a_code_redeems_once_for_a_signed_id_token_with_issuer_subject_and_nonce(
    provider: Provider,
) -> None:
    code = code_from(authorize(provider))

    answer = redeem(provider, code)

    assert answer.status_code == 200, answer.text
    claims = verified_claims(provider, answer.json()["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["sub"] == JANE.subject
    assert claims["aud"] == "dermascan"
    assert claims["nonce"] == "the-nonce"
    assert claims["at_hash"] == b64url(
        hashlib.sha256(answer.json()["access_token"].encode()).digest()[:16]
    )
    assert redeem(provider, code).json()["error"] == "invalid_grant"  # used up


def test_a_token_signed_by_another_key_does_not_verify(provider: Provider) -> None:
    with Provider(client_id="dermascan", client_secret=SECRET, identity=JANE) as impostor:
        impostor.key_id = provider.key_id  # claims to be signed by the provider's key
        forged = impostor.sign({"iss": provider.issuer, "sub": JANE.subject})
    with pytest.raises(InvalidSignature):
        verified_claims(provider, forged)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_verifier": "not-the-verifier"}, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:9999/oauth2callback"}, "invalid_grant"),
        ({"secret": "wrong"}, "invalid_client"),
    ],
    ids=["wrong-pkce-verifier", "other-redirect-uri", "wrong-client-secret"],
)
def test_the_token_endpoint_refuses_what_a_real_provider_refuses(
    provider: Provider, changes: dict[str, str], error: str
) -> None:
    code = code_from(authorize(provider))
    secret = changes.pop("secret", SECRET)

    answer = redeem(provider, code, secret=secret, **changes)

    assert answer.status_code in {400, 401}
    assert answer.json()["error"] == error
    assert "id_token" not in answer.json()


@pytest.mark.parametrize(
    "changes",
    [
        {"code_challenge": ""},
        {"code_challenge_method": "plain"},
        {"redirect_uri": "http://evil.example/oauth2callback"},
        {"client_id": "someone-else"},
        {"scope": "email"},
    ],
    ids=["no-pkce", "plain-pkce", "unregistered-redirect", "unknown-client", "no-openid"],
)
def test_the_authorization_endpoint_refuses_bad_requests(
    provider: Provider, changes: dict[str, str]
) -> None:
    answer = authorize(provider, **changes)
    assert answer.status_code == 400
    assert "Location" not in answer.headers
