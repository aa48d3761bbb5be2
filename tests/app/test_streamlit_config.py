"""`.streamlit/config.toml`: the app is private by default; its upload limit is the runtime's;
its colours neither alarm nor reassure."""

from __future__ import annotations

import colorsys
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


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def test_the_score_bars_colour_is_neither_alarm_nor_reassurance_and_readable() -> None:
    """Every class's bar is drawn in the theme's primary colour: it must be neither a red
    (benign classes would look alarming) nor a green (reassurance is the triage rule's alone),
    and button text on it must reach 4.5:1 (WCAG 2.1, 1.4.3 Contrast (Minimum))."""
    colour = CONFIG["theme"]["primaryColor"]
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    hue, _, _ = colorsys.rgb_to_hls(red / 255, green / 255, blue / 255)
    assert 180 <= hue * 360 <= 260, f"{colour} is not a blue"
    luminance = 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)
    assert (1.05) / (luminance + 0.05) >= 4.5  # white text on it
