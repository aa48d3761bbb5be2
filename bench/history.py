"""History: the newest page of 50 with 100, 10,000 and 100,000 records, locally and in S3."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
    rows = []
    local_times = []
    for size in sizes:
        store = LocalStore(directory / f"history-{size}")
        fill(partial(_put, store), size)
        local_times.append(_page_seconds(store, 7))
    s3_times = _s3_times(sizes)
    for size, local, s3 in zip(sizes, local_times, s3_times, strict=True):
        rows.append(
            [
                f"{size:,}",
                f"{local * 1000:.1f} ms",
                f"{local / local_times[0]:.2f}x",
                f"{s3 * 1000:.1f} ms",
                f"{s3 / s3_times[0]:.2f}x",
            ]
        )
    return Table(
        "History: newest page of 50 (one listing + 50 record reads, medians)",
        ["records", "LocalStore", "vs smallest", "S3 (moto server)", "vs smallest"],
        rows,
    )


def _s3_times(sizes: tuple[int, ...]) -> list[float]:
    """Pages read over HTTP from a moto server; the records are seeded in moto's own backend
    (an HTTP PUT per object would take minutes at 100,000)."""
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
        backend = get_backend("s3")["123456789012"]["global"]
        times = []
        for size in sizes:
            bucket = f"history-{size}"
            client.create_bucket(Bucket=bucket)

            def put(key: str, data: bytes, bucket: str = bucket) -> None:
                backend.put_object(bucket, key, data)

            fill(put, size)
            times.append(_page_seconds(S3Store(client, bucket), 5))
        return times
    finally:
        server.stop()
