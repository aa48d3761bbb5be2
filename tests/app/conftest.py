"""App test fixtures: AppTest on the real entry file, with the backend chosen by environment,
and for the browser tests ``streamlit run`` on loopback with Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from streamlit.testing.v1 import AppTest

from app.session import shared_backend
from tests.conftest import REPO

ENTRY = str(REPO / "app" / "streamlit_app.py")


def new_app() -> AppTest:
    # The first run imports torch and loads the model: far slower than AppTest's default 3 s.
    return AppTest.from_file(ENTRY, default_timeout=120)


@pytest.fixture
def local_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model_dir: Path
) -> Iterator[Path]:
    """The local backend on a fresh data directory with the tiny model."""
    monkeypatch.setenv("DERMASCAN_BACKEND", "local")
    monkeypatch.setenv("DERMASCAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DERMASCAN_MODEL", str(tiny_model_dir))
    shared_backend.clear()  # the process-wide backend belongs to the previous test's data
    yield tmp_path / "data"
    shared_backend.clear()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


class ServedApp:
    """``streamlit run`` as a user starts it, on a free loopback port, with ``env`` added."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, env: dict[str, str]) -> str:
        port = free_port()
        streamlit = Path(sys.executable).with_name("streamlit")
        log_path = self.tmp_path / f"streamlit-{port}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [str(streamlit), "run", "app/streamlit_app.py", "--server.port", str(port)],
                cwd=REPO,
                # This checkout's code first: an editable install made in another checkout
                # (a shared virtual environment) would otherwise serve that checkout's app.
                env={**os.environ, "PYTHONPATH": str(REPO), **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    return url
            except requests.ConnectionError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "streamlit did not start within 60 s"
            time.sleep(0.5)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServedApp]:
    served = ServedApp(tmp_path)
    yield served
    served.stop()


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


def idle(page: Page, timeout: float = 60_000) -> None:
    """Wait until the app's script has finished its last run (Streamlit marks its root with the
    script's state), so a click does not land in a page that a rerun is about to redraw."""
    page.wait_for_timeout(300)  # a rerun the last action asked for may not have started yet
    app = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
    app.wait_for(timeout=timeout)


def choose_file(page: Page, path: Path, attempts: int = 3) -> None:
    """Choose ``path`` in the page's file uploader and wait until the uploader lists it.

    Chromium under load sometimes drops a file set while Streamlit redraws the uploader (CI
    lost one even after ``idle``); the uploader then shows no file and nothing happens. The
    file is chosen again only in that case, and at most ``attempts`` times: what the app does
    with a file it did receive is for the caller to check."""
    listed = page.get_by_role("button", name=f"Remove {path.name}", exact=True)
    for _ in range(attempts):
        idle(page)  # a file set while a rerun redraws the uploader is lost
        page.locator('input[type="file"]').set_input_files(path)
        try:
            listed.wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the uploader never listed {path.name} after {attempts} attempts")
