"""The pipeline's own cost next to the model's, and a burst of 500 uploads on one machine."""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from bench.common import SAMPLES, Table
from bench.models import random_vit
from runtime.classifiers import Scores, TransformersClassifier
from runtime.images import prepare
from runtime.keys import KeyLayout, id_time, new_id
from runtime.local import LocalPipeline
from runtime.pipeline import process_upload
from runtime.records import ModelInfo
from runtime.stores import LocalStore


class TimedClassifier:
    """Passes calls through and adds up the time spent inside the model."""

    def __init__(self, inner: TransformersClassifier) -> None:
        self.inner = inner
        self.seconds = 0.0

    @property
    def model(self) -> ModelInfo:
        return self.inner.model

    def classify(self, jpeg: bytes) -> Scores:
        start = time.perf_counter()
        try:
            return self.inner.classify(jpeg)
        finally:
            self.seconds += time.perf_counter() - start


def _samples() -> list[bytes]:
    return [path.read_bytes() for path in sorted(SAMPLES.glob("*/*.jpg"))]


def overhead(directory: Path, shapes: tuple[str, ...], images: int) -> Table:
    """Per image: everything process_upload does (read, prepare, store, record) but the model."""
    layout = KeyLayout()
    rows = []
    data = _samples()
    for shape in shapes:
        classifier = TimedClassifier(
            TransformersClassifier(str(random_vit(directory / f"vit-{shape}", shape)))
        )
        classifier.inner.load()
        classifier.classify(prepare(data[0]).jpeg)  # warm up the model outside the measurement
        store = LocalStore(directory / f"store-{shape}")
        totals, model_times = [], []
        for n in range(images):
            key = layout.upload_key("local", new_id(), "jpg")
            store.put(key, data[n % len(data)], "image/jpeg")
            before = classifier.seconds
            start = time.perf_counter()
            process_upload(key, store=store, classifier=classifier, layout=layout)
            totals.append(time.perf_counter() - start)
            model_times.append(classifier.seconds - before)
        total = statistics.median(totals)
        model = statistics.median(model_times)
        extra = statistics.median(t - m for t, m in zip(totals, model_times, strict=True))
        rows.append(
            [
                f"ViT-{shape} (random weights)",
                f"{total * 1000:.1f} ms",
                f"{model * 1000:.1f} ms",
                f"{extra * 1000:.1f} ms",
                f"{extra / model:.1%}",
            ]
        )
    return Table(
        f"Pipeline overhead per 600x450 image (median of {images})",
        ["model", "process_upload", "model alone", "pipeline overhead", "overhead / model"],
        rows,
    )


def _model_alone_seconds(
    classifier: TransformersClassifier, jpegs: list[bytes], workers: int
) -> float:
    """Seconds the classifier alone takes for ``jpegs`` on ``workers`` threads."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(classifier.classify, jpegs))
    return time.perf_counter() - start


def burst(directory: Path, shape: str, uploads: int, workers: int) -> Table:
    """``uploads`` submitted at once to the local pipeline, against the model alone on the
    same prepared images with the same workers."""
    model_dir = random_vit(directory / f"burst-{shape}", shape)
    data = _samples()
    # Each worker gets its share of the cores, as LocalPipeline.from_env configures it.
    classifier = TransformersClassifier(
        str(model_dir), threads=max(1, (os.cpu_count() or 1) // workers)
    )
    classifier.load()
    jpegs = [prepare(data[n % len(data)]).jpeg for n in range(uploads)]
    classifier.classify(jpegs[0])

    # The model alone runs half its images before the burst and half after: this machine's
    # speed drifts by several percent within minutes, and bracketing cancels a steady drift.
    model_seconds = _model_alone_seconds(classifier, jpegs[: uploads // 2], workers)

    store = LocalStore(directory / "burst-store")
    pipeline = LocalPipeline(store, classifier, workers=workers)
    submitted: dict[str, datetime] = {}
    start = time.perf_counter()
    ids = [pipeline.submit(data[n % len(data)]) for n in range(uploads)]
    for prediction_id in ids:
        submitted[prediction_id] = id_time(prediction_id)
    records = [pipeline.wait(prediction_id, timeout=3600) for prediction_id in ids]
    elapsed = time.perf_counter() - start
    pipeline.close()
    model_seconds += _model_alone_seconds(classifier, jpegs[uploads // 2 :], workers)
    model_rate = uploads / model_seconds

    latencies = sorted(
        (datetime.fromisoformat(r.created_at) - submitted[r.id]).total_seconds() for r in records
    )
    written = store.list_keys("predictions/local/", uploads + 10).keys
    rate = uploads / elapsed
    return Table(
        f"Burst: {uploads} uploads at once, {workers} workers, ViT-{shape} (random weights)",
        [
            "model alone",
            "pipeline",
            "pipeline / model",
            "p50 latency",
            "p95 latency",
            "records written",
            "distinct",
        ],
        [
            [
                f"{model_rate:.1f} images/s",
                f"{rate:.1f} images/s",
                f"{rate / model_rate:.0%}",
                f"{statistics.median(latencies):.2f} s",
                f"{latencies[int(0.95 * (len(latencies) - 1))]:.2f} s",
                str(len(written)),
                str(len({r.id for r in records})),
            ]
        ],
    )
