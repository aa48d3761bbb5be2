"""Stored results with confirmed outcomes, for the tests of live accuracy (runtime, CLI, app).

``SEEDED`` is the acceptance set: eight results confirmed by clinicians, one corrected, one
confirmed as ``other``, one whose only outcome is unreadable, and one never confirmed. Its
metrics are worked out by hand in tests/runtime/test_live_accuracy.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from PIL import Image

from runtime.confirmed import record_outcome
from runtime.keys import KeyLayout, id_time, new_id
from runtime.labels import CLASSES
from runtime.outcomes import ConfirmedOutcome
from runtime.records import ImageInfo, ModelInfo, Prediction, Timings
from runtime.stores import Store

LAYOUT = KeyLayout()
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
RECORDED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def scores_with(predicted: str, confidence: float) -> dict[str, float]:
    """``predicted`` at ``confidence``, the rest shared equally by the other six."""
    rest = (1 - confidence) / (len(CLASSES) - 1)
    return {code: confidence if code == predicted else rest for code in CLASSES}


def tiny_jpeg() -> bytes:
    """A real 8x8 JPEG, so a page that shows the upload can (the scores are the record's)."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (150, 90, 80)).save(out, format="JPEG")
    return out.getvalue()


def store_prediction(
    store: Store, owner: str, prediction_id: str, scores: dict[str, float]
) -> Prediction:
    upload_key = LAYOUT.upload_key(owner, prediction_id, "jpg")
    store.put(upload_key, tiny_jpeg(), "image/jpeg")
    record = Prediction.ok(
        id=prediction_id,
        owner=owner,
        upload_key=upload_key,
        scores=scores,
        model=ModelInfo(id="test", revision=None, backend="test"),
        image=ImageInfo(sha256="0" * 64, bytes=44),
        timings_ms=Timings(1, 1, 2),
        created_at=id_time(prediction_id),
    )
    store.put(
        LAYOUT.prediction_key(owner, prediction_id), record.to_json().encode(), "application/json"
    )
    return record


def confirm(
    store: Store,
    owner: str,
    prediction_id: str,
    diagnosis: str,
    method: str = "histopathology",
    now: datetime = RECORDED,
) -> str:
    outcome = ConfirmedOutcome.record(
        prediction_id=prediction_id,
        owner=owner,
        diagnosis=diagnosis,
        method=method,
        confirmed_on=date(2026, 11, 15),
        now=now,
    )
    return record_outcome(store, LAYOUT, outcome)


@dataclass(frozen=True)
class Case:
    truth: str | None
    """The diagnosis that counts (None: never confirmed)."""
    predicted: str
    confidence: float
    earlier: str | None = None
    """A diagnosis recorded first and then corrected to ``truth``."""


SEEDED = (
    Case("mel", "mel", 0.9),
    Case("mel", "nv", 0.6, earlier="nv"),
    Case("nv", "nv", 0.8),
    Case("nv", "nv", 0.7),
    Case("bcc", "mel", 0.5),
    Case("bkl", "bkl", 0.95),
    Case("nv", "bkl", 0.4),
    Case("other", "nv", 0.8),
    Case(None, "mel", 0.9),
)


def seed(store: Store, owner: str = "local") -> list[str]:
    """``SEEDED`` in ``store``, plus a result whose only outcome is unreadable; their ids in
    ``SEEDED`` order, the unreadable one last."""
    ids = []
    for n, case in enumerate(SEEDED):
        prediction_id = new_id(START + timedelta(hours=n))
        store_prediction(store, owner, prediction_id, scores_with(case.predicted, case.confidence))
        if case.earlier is not None:
            confirm(store, owner, prediction_id, case.earlier, "follow-up")
        if case.truth is not None:
            confirm(store, owner, prediction_id, case.truth)
        ids.append(prediction_id)
    broken = new_id(START + timedelta(hours=len(SEEDED)))
    store_prediction(store, owner, broken, scores_with("vasc", 0.9))
    store.put(LAYOUT.outcome_key(owner, broken, new_id()), b'{"version": 1}', "application/json")
    ids.append(broken)
    return ids
