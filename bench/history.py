"""History: the newest page of 50 with 100, 10,000 and 100,000 records, locally and in S3."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import boto3

from bench.common import Table, median_seconds
from runtime.records import ImageInfo, KeyLayout, ModelInfo, Prediction, Timings, new_id
from runtime.results import Results
from runtime.stores import LocalStore, S3Store, Store

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


def _put(store: Store, key: str, data: bytes) -> None:
    store.put(key, data, "application/json")


def _page_seconds(store: Store, repeats: int) -> float:
    results = Results(store, LAYOUT, readers=8)
    return median_seconds(lambda: results.page("local", 50), repeats)


def run(directory: Path, sizes: tuple[int, ...]) -> Table:
    local_times = []
    for size in sizes:
        store = LocalStore(directory / f"history-{size}")
        fill(partial(_put, store), size)
        local_times.append(_page_seconds(store, 7))
    s3 = _s3_pages(sizes)
    rows = []
    for size, local, page in zip(sizes, local_times, s3, strict=True):
        rest = page.seconds - page.listing_seconds
        first_rest = s3[0].seconds - s3[0].listing_seconds
        rows.append(
            [
                f"{size:,}",
                f"{local * 1000:.1f} ms",
                f"{local / local_times[0]:.2f}x",
                str(page.requests),
                f"{page.seconds * 1000:.1f} ms",
                f"{page.seconds / s3[0].seconds:.2f}x",
                f"{page.listing_seconds * 1000:.1f} ms",
                f"{rest / first_rest:.2f}x",
            ]
        )
    return Table(
        "History: newest page of 50 (one listing + 50 record reads, medians)",
        [
            "records",
            "LocalStore",
            "vs smallest",
            "S3 requests per page",
            "S3 (moto server)",
            "vs smallest",
            "of which moto's listing",
            "S3 page without the listing, vs smallest",
        ],
        rows,
    )


@dataclass(frozen=True)
class S3Page:
    """What reading the newest page from the moto server cost at one history size."""

    seconds: float
    listing_seconds: float
    requests: int


class RequestCounter:
    """A botocore ``before-send`` hook: counts the HTTP requests a client makes."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **_: object) -> None:
        self.count += 1


def _s3_pages(sizes: tuple[int, ...]) -> list[S3Page]:
    """Pages read over HTTP from a moto server; the records are seeded in moto's own backend
    (an HTTP PUT per object would take minutes at 100,000).

    moto answers ``ListObjectsV2`` by scanning and sorting every key in the bucket (moto 5.2,
    ``S3Backend.list_objects``), where S3 reads one page of its sorted index. So the listing
    is timed on its own, and the HTTP requests a page makes are counted.
    """
    from moto.backends import get_backend
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",  # noqa: S106 - a local moto server's fake credentials
        )
        sent = RequestCounter()
        client.meta.events.register("before-send.s3.*", sent)
        backend = get_backend("s3")["123456789012"]["global"]
        pages = []
        for size in sizes:
            bucket = f"history-{size}"
            client.create_bucket(Bucket=bucket)

            def put(key: str, data: bytes, bucket: str = bucket) -> None:
                backend.put_object(bucket, key, data)

            fill(put, size)
            store = S3Store(client, bucket)
            before = sent.count
            Results(store, LAYOUT).page("local", 50)
            requests = sent.count - before
            listing = median_seconds(partial(store.list_keys, LAYOUT.owner_uploads("local"), 50), 5)
            pages.append(S3Page(_page_seconds(store, 5), listing, requests))
        return pages
    finally:
        server.stop()
