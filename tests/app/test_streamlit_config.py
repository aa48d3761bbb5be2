"""`.streamlit/config.toml`: the app is private by default; its upload limit is the runtime's."""

from __future__ import annotations

import tomllib

from runtime.formats import DEFAULT_MAX_BYTES
from tests.conftest import REPO

CONFIG = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))


def test_the_app_listens_on_loopback_only() -> None:
    assert CONFIG["server"]["address"] == "127.0.0.1"


def test_cross_site_request_forgery_protection_is_on() -> None:
    assert CONFIG["server"]["enableXsrfProtection"] is True


def test_the_upload_limit_is_the_runtimes_10_mb() -> None:
    # Streamlit counts maxUploadSize in MiB (its upload route multiplies by 1024 * 1024).
    assert CONFIG["server"]["maxUploadSize"] * 1024 * 1024 == DEFAULT_MAX_BYTES == 10 * 2**20


def test_no_usage_statistics_leave_the_machine() -> None:
    assert CONFIG["browser"]["gatherUsageStats"] is False


def test_errors_show_as_messages_never_as_tracebacks() -> None:
    assert CONFIG["client"]["showErrorDetails"] == "none"
