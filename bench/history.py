"""History: the newest page of 50 with 100, 10,000 and 100,000 records, locally and in S3.

A page is what the History page reads: one listing, then each entry's record and thumbnail,
all in one bounded pool (``Results.page(..., thumbnails=True)``).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from bench.common import REPO, Table, median_seconds
from runtime.keys import KeyLayout, new_id
from runtime.records import ImageInfo, ModelInfo, Prediction, Timings
from runtime.results import DEFAULT_READERS, Results
from runtime.stores import LocalStore, S3Store, Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LAYOUT = KeyLayout()
START = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = ModelInfo(id="bench", revision=None, backend="bench")


def _record_json(prediction_id: str) -> bytes:
    scores = {"akiec": 0.1, "bcc": 0.1, "bkl": 0.1, "df": 0.1, "mel": 0.3, "nv": 0.2, "vasc": 0.1}
    return (
        Prediction.ok(
            id=prediction_id,
            owner="local",
            upload_key=LAYOUT.upload_key("local", prediction_id, "jpg"),
            scores=scores,
            model=MODEL,
            image=ImageInfo(sha256="0" * 64, bytes=1),
            timings_ms=Timings(1, 1, 2),
            created_at=START,
        )
        .to_json()
        .encode()
    )


def fill(put: Callable[[str, bytes], None], count: int) -> None:
    """``count`` uploads with their records, as the pipeline leaves them."""
    for n in range(count):
        prediction_id = new_id(START + timedelta(seconds=n))
        put(LAYOUT.upload_key("local", prediction_id, "jpg"), b"jpeg")
        put(LAYOUT.prediction_key("local", prediction_id), _record_json(prediction_id))
        put(LAYOUT.thumbnail_key("local", prediction_id), b"thumbnail")


def _put(store: Store, key: str, data: bytes) -> None:
    store.put(key, data, "application/json")


def _page(results: Results) -> None:
    """The newest page, exactly as the History page reads it."""
    results.page("local", 50, thumbnails=True)


def _page_seconds(store: Store, repeats: int) -> float:
    results = Results(store, LAYOUT)
    _page(results)  # starts the pool of readers, as the app's first page does
    return median_seconds(partial(_page, results), repeats)


def run(directory: Path, sizes: tuple[int, ...]) -> Table:
    local_times = []
    for size in sizes:
        # Filled without fsyncs: 300,000 durable writes would take most of an hour, and reading
        # a page costs the same whichever way the files were written.
        store = LocalStore(directory / f"history-{size}", durable=False)
        fill(partial(_put, store), size)
        local_times.append(_page_seconds(store, 7))
    s3 = _s3_pages(sizes)
    rows = []
    for size, local, page in zip(sizes, local_times, s3, strict=True):
        rows.append(
            [
                f"{size:,}",
                f"{local * 1000:.1f} ms",
                f"{local / local_times[0]:.2f}x",
                str(page.requests),
                f"{page.seconds * 1000:.1f} ms",
                f"{page.seconds / s3[0].seconds:.2f}x",
                f"{page.listing_seconds * 1000:.1f} ms",
                f"{page.reads_seconds * 1000:.1f} ms",
                f"{page.reads_seconds / s3[0].reads_seconds:.2f}x",
            ]
        )
    return Table(
        "History: newest page of 50 (one listing + 50 records and 50 thumbnails read in one "
        f"pool of {DEFAULT_READERS}, medians)",
        [
            "records",
            "LocalStore",
            "vs smallest",
            "S3 requests per page",
            "S3 page (moto server)",
            "vs smallest",
            "its listing",
            "its 100 reads (page - listing)",
            "reads vs smallest",
        ],
        rows,
    )


@dataclass(frozen=True)
class S3Page:
    """What reading the newest page from the moto server cost at one history size."""

    seconds: float
    listing_seconds: float
    reads_seconds: float
    requests: int


class RequestCounter:
    """A botocore ``before-send`` hook: counts the HTTP requests a client makes, from any
    number of threads."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, **_: object) -> None:
        with self._lock:
            self.count += 1


def _s3_pages(sizes: tuple[int, ...]) -> list[S3Page]:
    """Pages read over HTTP from a moto server in a process of its own, as S3 would be: the
    server's work and garbage do not share this process's interpreter.

    moto answers ``ListObjectsV2`` by scanning and sorting every key in the bucket (moto 5.2,
    ``S3Backend.list_objects``), where S3 reads one page of its sorted index. So the listing
    is timed on its own, and the HTTP requests a page makes are counted.
    """
    with subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", f"from bench.history import serve; serve({sizes!r})"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdin is not None  # both are pipes, as asked above
        assert server.stdout is not None
        try:
            endpoint = server.stdout.readline().strip()
            if not endpoint:
                raise RuntimeError("the moto server process exited before serving")
            client = _client(endpoint)
            sent = RequestCounter()
            client.meta.events.register("before-send.s3.*", sent)
            pages = []
            for size in sizes:
                store = S3Store(client, _bucket(size))
                results = Results(store, LAYOUT)
                before = sent.count
                _page(results)
                requests = sent.count - before
                prefix = LAYOUT.owner_uploads("local")
                listing = median_seconds(partial(store.list_keys, prefix, 50), 5)
                page = _page_seconds(store, 5)
                pages.append(S3Page(page, listing, max(page - listing, 0.0), requests))
            return pages
        finally:
            server.stdin.close()  # tells the server to stop
            server.wait(timeout=60)


def serve(sizes: tuple[int, ...]) -> None:
    """Run a moto S3 server holding one seeded bucket per size; print its endpoint, then serve
    until stdin closes. The records are put in moto's backend directly (an HTTP PUT per
    object would take minutes at 100,000)."""
    from moto.backends import get_backend
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = _client(endpoint)
        backend = get_backend("s3")["123456789012"]["global"]
        for size in sizes:
            bucket = _bucket(size)
            client.create_bucket(Bucket=bucket)

            def put(key: str, data: bytes, bucket: str = bucket) -> None:
                backend.put_object(bucket, key, data)

            fill(put, size)
        print(endpoint, flush=True)
        sys.stdin.read()
    finally:
        server.stop()


def _bucket(size: int) -> str:
    return f"history-{size}"


def _client(endpoint: str) -> S3Client:
    return boto3.client(
        "s3",
        config=Config(max_pool_connections=DEFAULT_READERS),  # as the app's client
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - a local moto server's fake credentials
    )
