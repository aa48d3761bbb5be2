"""App test fixtures: AppTest on the real entry file, with the backend chosen by environment,
and for the browser tests ``streamlit run`` on loopback with Chromium driven by Playwright."""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from streamlit.testing.v1 import AppTest

from app.session import shared_backend
from tests.aws import REGION, EndpointDouble, LambdaContext, lambda_sqs_record, wire_uploads_queue
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


def choose_file(
    page: Page,
    path: Path,
    attempts: int = 3,
    *,
    on_fresh_page: Callable[[], None] | None = None,
) -> None:
    """Choose ``path`` in the page's file uploader and wait until the uploader lists it.

    Streamlit lists a chosen file only once the server has answered for it over the page's
    connection; under load that answer can be lost (CI lost files even after ``idle``; the
    browser console then says "Cannot request file URLs"), and the uploader shows nothing. The
    file is chosen again only in that case, at most ``attempts`` times, each time with the app
    idle and the uploader enabled. A page in that state can stay in it: for the page's first
    file, ``on_fresh_page`` allows a reload (a new connection) between attempts and puts back
    what the test had entered before choosing. What the app does with a file it did receive
    is for the caller to check."""
    listed = page.get_by_role("button", name=f"Remove {path.name}", exact=True)
    enabled = page.locator('[data-testid="stFileUploaderDropzone"][aria-disabled="false"]')
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    for attempt in range(attempts):
        if attempt and on_fresh_page is not None:
            page.reload()
            enabled.first.wait_for(timeout=60_000)
            on_fresh_page()
        idle(page)  # a file set while a rerun redraws the uploader is lost
        enabled.first.wait_for(timeout=60_000)
        page.locator('input[type="file"]').set_input_files(path)
        try:
            listed.wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            continue
    state = page.locator('[data-testid="stApp"]').first.get_attribute("data-test-script-state")
    try:
        uploader = page.locator('[data-testid="stFileUploader"]').first.aria_snapshot(timeout=5_000)
    except PlaywrightTimeout:
        uploader = "(no file uploader on the page)"
    raise AssertionError(
        f"the uploader never listed {path.name} after {attempts} attempts (script state "
        f"{state}, uploader enabled: {enabled.count() > 0}):\n{uploader}\nconsole:\n"
        + "\n".join(console[-20:])
    )


# --- the AWS backend: a moto server, the stack's bucket and queue, and the Lambda on it ----

BUCKET = "dermascan-app-test"


@pytest.fixture
def moto_server(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)  # every boto3 client, app and handler alike
    requests.post(f"{url}/moto-api/reset", timeout=5).raise_for_status()  # state is global
    yield url
    requests.post(f"{url}/moto-api/reset", timeout=5).raise_for_status()
    server.stop()


@pytest.fixture
def stack(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The bucket, queue and notification of a deployed stack, and the app pointed at it."""
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url, _ = wire_uploads_queue(s3, sqs, BUCKET, "uploads")
    for name, value in {
        "DERMASCAN_BACKEND": "aws",
        "DERMASCAN_BUCKET": BUCKET,
        "DERMASCAN_STACK": "test",
        "BUCKET_NAME": BUCKET,
        "ENDPOINT_NAME": "dermascan-endpoint",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "dermascan",
    }.items():
        monkeypatch.setenv(name, value)
    shared_backend.clear()
    yield queue_url
    shared_backend.clear()


class QueueWorker(threading.Thread):
    """Plays Lambda's SQS event source: receive a batch, invoke the handler, delete what passed."""

    def __init__(self, queue_url: str, arn: str) -> None:
        super().__init__(daemon=True)
        self.queue_url = queue_url
        self.arn = arn
        self.stopping = threading.Event()
        self.errors: list[Exception] = []
        sys.modules.pop("runtime.handler", None)
        self.handler = importlib.import_module("runtime.handler")
        self.endpoint = EndpointDouble()  # the deployed endpoint, answering from each request
        self.endpoint.attach(self.handler.sagemaker_runtime)
        self.sqs = boto3.client("sqs", region_name=REGION)

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.poll()
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
            self.errors.append(exc)

    def poll(self) -> None:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return
        event = {"Records": [lambda_sqs_record(m, self.arn) for m in messages]}
        result: dict[str, Any] = self.handler.handler(event, LambdaContext())
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def worker(stack: str) -> Iterator[QueueWorker]:
    arn = f"arn:aws:sqs:{REGION}:123456789012:uploads"
    running = QueueWorker(stack, arn)
    running.start()
    yield running
    running.stopping.set()
    running.join(timeout=10)
    assert not running.errors, running.errors
