"""A small OpenID Connect provider on loopback, for driving the app's real ``st.login``.

It does what a real provider does for the authorization-code flow, and checks what a real one
checks: discovery (``/.well-known/openid-configuration``); an authorization endpoint that signs
the configured identity in at once and redirects back to a registered redirect URI with a code
and the client's ``state``; a token endpoint that authenticates the client, checks the code
(single-use, bound to that client and redirect URI) and its PKCE verifier (S256, required),
and returns an ID token signed RS256 with a key made for this provider, carrying the client's
``nonce``; the key set; and an end-session endpoint. It never decides who the app thinks the
user is: it only signs the claims it was given.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    """Base64url without padding, as JOSE and PKCE write it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(number: int) -> str:
    return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class Identity:
    """Who the provider signs in: the claims it puts in the ID token besides the registered ones."""

    subject: str
    email: str
    name: str


@dataclass(frozen=True)
class _Grant:
    """What an authorization request asked for, kept until its code is redeemed."""

    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    identity: Identity


class OAuthRefusal(Exception):
    """A request the provider refuses, with the OAuth error code it answers with."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class Provider:
    """The identity provider for one client, serving on ``issuer`` once entered.

    Args:
        client_id: the one client it knows.
        client_secret: that client's secret.
        identity: who signs in at the authorization endpoint (may be changed between logins).
    """

    def __init__(self, client_id: str, client_secret: str, identity: Identity) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.identity = identity
        self.redirect_uris: list[str] = []
        """The client's registered redirect URIs: a request naming another is refused."""
        self.events: list[str] = []
        """What happened, in order: ``authorize``, ``token``, ``end_session``, refusals."""
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(8)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- what it publishes ---------------------------------------------------------------------

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
        }

    def jwks(self) -> dict[str, Any]:
        """The public half of the signing key, as a JWK set."""
        numbers = self._key.public_key().public_numbers()
        key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.key_id}
        return {"keys": [{**key, "n": _uint(numbers.n), "e": _uint(numbers.e)}]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims``, signed RS256 with this provider's key."""
        header = {"alg": "RS256", "typ": "JWT", "kid": self.key_id}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
            for part in (header, claims)
        )
        signature = self._key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{b64url(signature)}"

    # --- the endpoints -------------------------------------------------------------------------

    def authorize(self, query: Mapping[str, str]) -> str:
        """Sign ``identity`` in at once; return where to send the browser (the client's
        redirect URI with a fresh code and the client's ``state``)."""
        if query.get("client_id") != self.client_id:
            raise OAuthRefusal("unauthorized_client", "unknown client_id")
        if query.get("response_type") != "code":
            raise OAuthRefusal("unsupported_response_type", "only code")
        if "openid" not in query.get("scope", "").split():
            raise OAuthRefusal("invalid_scope", "openid is required")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            raise OAuthRefusal("invalid_request", f"unregistered redirect_uri {redirect_uri}")
        # PKCE is required of every client, confidential ones too (as OAuth 2.1 has it).
        challenge = query.get("code_challenge")
        if not challenge or query.get("code_challenge_method") != "S256":
            raise OAuthRefusal("invalid_request", "an S256 code_challenge is required")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                nonce=query.get("nonce"),
                code_challenge=challenge,
                identity=self.identity,
            )
        self.record("authorize")
        answer = {"code": code, "state": query["state"]} if "state" in query else {"code": code}
        return f"{redirect_uri}?{urlencode(answer)}"

    def token(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        """Redeem a code: the client authenticates with HTTP Basic, the code is single-use and
        bound to the client, its redirect URI and its PKCE challenge."""
        self._authenticate(authorization)
        if form.get("grant_type") != "authorization_code":
            raise OAuthRefusal("unsupported_grant_type", "only authorization_code")
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or grant.client_id != self.client_id:
            raise OAuthRefusal("invalid_grant", "unknown or used code")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthRefusal("invalid_grant", "redirect_uri differs from the authorization's")
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode("utf-8")).digest()) != grant.code_challenge:
            raise OAuthRefusal("invalid_grant", "PKCE verifier does not match")
        access_token = secrets.token_urlsafe(32)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.identity.subject,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            # What an RS256 ID token says of the access token it came with (OIDC Core 3.1.3.6).
            "at_hash": b64url(hashlib.sha256(access_token.encode("ascii")).digest()[:16]),
            "email": grant.identity.email,
            "email_verified": True,
            "name": grant.identity.name,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        self.record("token")
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "openid email profile",
            "id_token": self.sign(claims),
        }

    def end_session(self, query: Mapping[str, str]) -> str:
        """RP-initiated logout: where to send the browser back to."""
        if query.get("client_id") != self.client_id:
            raise OAuthRefusal("invalid_request", "unknown client_id")
        back = query.get("post_logout_redirect_uri", "")
        if back not in self.redirect_uris:
            raise OAuthRefusal("invalid_request", f"unregistered post_logout_redirect_uri {back}")
        self.record("end_session")
        return back

    def record(self, event: str) -> None:
        """Note what happened (the handler's threads call it concurrently)."""
        with self._lock:
            self.events.append(event)

    def _authenticate(self, authorization: str | None) -> None:
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            raise OAuthRefusal("invalid_client", "client_secret_basic is required")
        decoded = base64.b64decode(credentials).decode("utf-8")
        client_id, _, client_secret = decoded.partition(":")
        # RFC 6749 2.3.1: both parts are form-encoded before they are joined.
        if not (
            secrets.compare_digest(unquote_plus(client_id), self.client_id)
            and secrets.compare_digest(unquote_plus(client_secret), self.client_secret)
        ):
            raise OAuthRefusal("invalid_client", "wrong client credentials")


def _handler_for(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, provider.metadata())
                elif url.path == "/jwks":
                    self._json(200, provider.jwks())
                elif url.path == "/authorize":
                    self._redirect(provider.authorize(query))
                elif url.path == "/logout":
                    self._redirect(provider.end_session(query))
                else:
                    self._json(404, {"error": "not_found"})
            except OAuthRefusal as refusal:
                self._refuse(refusal)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            form = {k: v[-1] for k, v in parse_qs(body).items()}
            if urlsplit(self.path).path != "/token":
                self._json(404, {"error": "not_found"})
                return
            try:
                self._json(200, provider.token(form, self.headers.get("Authorization")))
            except OAuthRefusal as refusal:
                self._refuse(refusal)

        def _refuse(self, refusal: OAuthRefusal) -> None:
            provider.record(f"refused {refusal.error}: {refusal.description}")
            status = 401 if refusal.error == "invalid_client" else 400
            self._json(status, {"error": refusal.error, "error_description": refusal.description})

        def _json(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the events list says what happened; stderr stays for the test's own output

    return Handler
