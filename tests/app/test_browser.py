"""The app in a real browser: `streamlit run` on loopback, driven by Playwright in Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

from tests.app.test_aws_app import free_port
from tests.conftest import REPO

ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Keep Chromium from reaching out: this machine has no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture
def served_app(tmp_path: Path, tiny_model_dir: Path) -> Iterator[str]:
    """``streamlit run`` as a user starts it, on a free loopback port."""
    port = free_port()
    env = {
        **os.environ,
        "DERMASCAN_BACKEND": "local",
        "DERMASCAN_MODEL": str(tiny_model_dir),
        "DERMASCAN_DATA_DIR": str(tmp_path / "data"),
    }
    streamlit = Path(sys.executable).with_name("streamlit")
    log = (tmp_path / "streamlit.log").open("w")
    process = subprocess.Popen(
        [str(streamlit), "run", "app/streamlit_app.py", "--server.port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, (tmp_path / "streamlit.log").read_text()
            assert time.monotonic() < deadline, "streamlit did not start within 60 s"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def page() -> Iterator[Page]:
    assert shutil.which(CHROMIUM), (
        f"no browser at {CHROMIUM}: apt-get install chromium (make test does)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        yield context.new_page()
        browser.close()


def test_upload_history_and_detail_in_a_real_browser(
    served_app: str, page: Page, sample_paths: dict[str, Path]
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(served_app)
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Decision support, not a diagnosis.")).to_be_visible()
    page.locator('input[type="file"]').set_input_files(sample_paths["mel"])

    expect(page.locator('[data-testid="stVegaLiteChart"]')).to_be_visible(timeout=120_000)
    details = page.get_by_role("link", name="Details and provenance")
    expect(details).to_be_visible()
    page.screenshot(path=ARTIFACTS / "classify.png", full_page=True)

    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Malignant only")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "history.png", full_page=True)

    page.get_by_role("link", name="Classify").click()
    expect(details).to_be_visible(timeout=30_000)
    details.click()
    expect(page.get_by_role("heading", name="Provenance")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Image SHA-256")).to_be_visible()
    assert "prediction?id=" in page.url
    page.screenshot(path=ARTIFACTS / "prediction.png", full_page=True)

    assert problems == [], problems
