"""The app in a real browser: `streamlit run` on loopback, driven by Playwright in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.app.conftest import ServedApp, choose_file
from tests.conftest import REPO

ARTIFACTS = REPO / "artifacts" / "browser"


@pytest.fixture
def served_app(serve: ServedApp, tmp_path: Path, tiny_model_dir: Path) -> str:
    """The app on the local backend with the tiny model."""
    return serve.start(
        {
            "DERMASCAN_BACKEND": "local",
            "DERMASCAN_MODEL": str(tiny_model_dir),
            "DERMASCAN_DATA_DIR": str(tmp_path / "data"),
        }
    )


def test_upload_history_and_detail_in_a_real_browser(
    served_app: str, page: Page, sample_paths: dict[str, Path]
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        url = str(message.location.get("url"))
        # Streamlit drops a session's media files from the run before once a rerun replaces
        # them; an image the browser was still fetching from that run answers 404 and is
        # then drawn from the new run. On a loaded machine that race shows; it is no fault.
        if "/media/" in url and "404" in message.text:
            return
        if message.type == "error":
            problems.append(f"{message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(served_app)
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Decision support, not a diagnosis.")).to_be_visible()
    choose_file(page, sample_paths["mel"], on_fresh_page=lambda: None)

    expect(page.locator('[data-testid="stProgress"]').first).to_be_visible(timeout=120_000)
    details = page.get_by_role("link", name="Details and provenance")
    expect(details).to_be_visible()
    page.screenshot(path=ARTIFACTS / "classify.png", full_page=True)

    details.click()
    expect(page.get_by_role("heading", name="Provenance")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Image SHA-256")).to_be_visible()
    assert "prediction?id=" in page.url
    page.screenshot(path=ARTIFACTS / "prediction.png", full_page=True)

    page.get_by_role("link", name="Back to History").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("link", name="Open this result")).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stWidgetLabel"]', has_text="Triage")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "history.png", full_page=True)

    # Back on Classify the uploader is empty, so no earlier result stands under it.
    page.get_by_role("link", name="Classify").click()
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=30_000)
    expect(details).to_have_count(0)

    assert problems == [], problems
