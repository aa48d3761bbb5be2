"""Streamlit glue: the process-wide backend and caches, and whose data this session sees."""

from __future__ import annotations

import os
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from app.backend import Backend, Sample, backend_from_settings, load_samples
from runtime.keys import owner_for_identity
from runtime.local import LocalPipeline
from runtime.settings import AppSettings


@st.cache_resource(show_spinner="Starting dermascan...")
def shared_backend() -> Backend:
    """The process-wide backend: the model and the clients are made once, for every session.

    Raises:
        ConfigError: the environment does not describe a usable backend (never cached, so a
            fixed environment works on the next run).
    """
    backend = backend_from_settings(AppSettings.from_env(os.environ))
    backend.warm_up()  # the model loads while the first page is read, not on the first upload
    if isinstance(backend.pipeline, LocalPipeline):
        backend.pipeline.resume_pending()  # uploads a previous run left unclassified
    return backend


@st.cache_data(ttl=3600, max_entries=1)
def samples() -> list[Sample]:
    """The bundled samples (the same for every user, so cached for all)."""
    return load_samples()


def sign_in_configured() -> bool:
    """Whether ``[auth]`` is set in Streamlit's secrets, so users must sign in."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return False


def current_owner(backend: Backend) -> str | None:
    """Whose data this session sees: the signed-in user's opaque owner, or the shared default.

    With sign-in, the owner derives from the ID token's issuer and subject together, never the
    e-mail address. Returns None when sign-in is configured and nobody is signed in yet, or the
    identity lacks an issuer or a subject: such a session sees nobody's data.
    """
    if not sign_in_configured():
        return backend.default_owner
    if not st.user.is_logged_in:
        return None
    issuer, subject = st.user.get("iss"), st.user.get("sub")
    if not isinstance(issuer, str) or not issuer or not isinstance(subject, str) or not subject:
        return None
    return owner_for_identity(issuer, subject)


def active_session() -> tuple[Backend, str]:
    """The backend and this session's owner, for a page. Stops the page if nobody signed in."""
    backend = shared_backend()
    owner = current_owner(backend)
    if owner is None:
        st.stop()
    return backend, owner


def viewer_zone() -> tzinfo:
    """The reader's time zone, as their browser reports it; UTC when it does not say."""
    name = st.context.timezone
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # an unknown or malformed name from the browser: times stay in UTC, named
    return UTC
