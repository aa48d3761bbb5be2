"""The pipeline's own cost next to the model's, and a burst of 500 uploads on one machine."""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


@dataclass(frozen=True)
class BurstRun:
    """One bracketed burst: the rates, the latencies and what was written."""

    model_rate: float
    rate: float
    p50: float
    p95: float
    written: int
    distinct: int

    @property
    def ratio(self) -> float:
        return self.rate / self.model_rate


def burst(directory: Path, shape: str, uploads: int, workers: int, runs: int = 3) -> Table:
    """``uploads`` submitted at once to the local pipeline, against the model alone on the
    same prepared images with the same workers; ``runs`` times, each bracketed, and the run with
    the median ratio reported beside them."""
    model_dir = random_vit(directory / f"burst-{shape}", shape)
    data = _samples()
    # Each worker gets its share of the cores, as LocalPipeline.from_env configures it.
    classifier = TransformersClassifier(
        str(model_dir), threads=max(1, (os.cpu_count() or 1) // workers)
    )
    classifier.load()
    jpegs = [prepare(data[n % len(data)]).jpeg for n in range(uploads)]
    classifier.classify(jpegs[0])
    done = [
        _burst_once(directory / f"burst-store-{run}", classifier, data, jpegs, workers)
        for run in range(runs)
    ]
    middle = sorted(done, key=lambda run: run.ratio)[len(done) // 2]
    rows = [_burst_row(str(number), run) for number, run in enumerate(done, start=1)]
    rows.append(_burst_row("median", middle))
    return Table(
        f"Burst: {uploads} uploads at once, {workers} workers, ViT-{shape} (random weights), "
        f"{runs} bracketed runs",
        [
            "run",
            "model alone",
            "pipeline",
            "pipeline / model",
            "p50 latency",
            "p95 latency",
            "records written",
            "distinct",
        ],
        rows,
    )


def _burst_row(name: str, run: BurstRun) -> list[str]:
    return [
        name,
        f"{run.model_rate:.1f} images/s",
        f"{run.rate:.1f} images/s",
        f"{run.ratio:.0%}",
        f"{run.p50:.2f} s",
        f"{run.p95:.2f} s",
        str(run.written),
        str(run.distinct),
    ]


def _burst_once(
    directory: Path,
    classifier: TransformersClassifier,
    data: list[bytes],
    jpegs: list[bytes],
    workers: int,
) -> BurstRun:
    uploads = len(jpegs)
    # The model alone runs half its images before the burst and half after: this machine's
    # speed drifts by several percent within minutes, and bracketing cancels a steady drift.
    model_seconds = _model_alone_seconds(classifier, jpegs[: uploads // 2], workers)

    store = LocalStore(directory)
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

    latencies = sorted(
        (datetime.fromisoformat(r.created_at) - submitted[r.id]).total_seconds() for r in records
    )
    written = store.list_keys("predictions/local/", uploads + 10).keys
    return BurstRun(
        model_rate=uploads / model_seconds,
        rate=uploads / elapsed,
        p50=statistics.median(latencies),
        p95=latencies[int(0.95 * (len(latencies) - 1))],
        written=len(written),
        distinct=len({r.id for r in records}),
    )
