"""Test doubles: a classifier whose answers and failures the test chooses, a store in memory."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageStat

from runtime.classifiers import Scores
from runtime.labels import CLASSES
from runtime.records import ModelInfo
from runtime.stores import ObjectNotFound, ObjectTooLarge, Page

FAKE_MODEL = ModelInfo(id="fake/model", revision="0" * 40, backend="fake")


def scores_with_top(top: str, share: float = 0.7) -> Scores:
    """Scores summing to 1 with ``top`` holding ``share`` and the rest split evenly."""
    rest = (1.0 - share) / (len(CLASSES) - 1)
    return {code: share if code == top else rest for code in CLASSES}


class FakeClassifier:
    """Answers fixed scores, counts calls, and raises the queued errors first."""

    def __init__(self, scores: Scores | None = None) -> None:
        self.scores = scores or scores_with_top("nv")
        self.calls: list[bytes] = []
        self.errors: list[Exception] = []

    @property
    def model(self) -> ModelInfo:
        return FAKE_MODEL

    def classify(self, jpeg: bytes) -> Scores:
        self.calls.append(jpeg)
        if self.errors:
            raise self.errors.pop(0)
        return dict(self.scores)


class MemoryStore:
    """A ``Store`` in a dict: for tests about request patterns, where disk time would blur
    what is measured. Thread-safe; listings sorted like S3's."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes, content_type: str, *, derived: bool = False) -> None:
        with self._lock:
            self.objects[key] = bytes(data)

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = bytes(data)
            return True

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        with self._lock:
            if key not in self.objects:
                raise ObjectNotFound(key)
            data = self.objects[key]
        if max_bytes is not None and len(data) > max_bytes:
            raise ObjectTooLarge(key, len(data), max_bytes)
        return data

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self.objects

    def delete(self, key: str) -> None:
        with self._lock:
            self.objects.pop(key, None)

    def list_keys(self, prefix: str, limit: int, cursor: str | None = None) -> Page:
        with self._lock:
            keys = sorted(k for k in self.objects if k.startswith(prefix) and k > (cursor or ""))
        page = tuple(keys[:limit])
        return Page(keys=page, next_cursor=page[-1] if len(keys) > limit else None)


def quadrant_scores(jpeg: bytes) -> Scores:
    """A stand-in model that looks only at the top-left quadrant of its 224x224 input: the
    darker that quadrant, the higher melanoma scores. Anything outside it changes nothing."""
    with Image.open(io.BytesIO(jpeg), formats=["JPEG"]) as image:
        grey = image.convert("L").crop((0, 0, 112, 112))
        darkness = 1.0 - ImageStat.Stat(grey).mean[0] / 255
    mel = 0.05 + 0.9 * darkness
    rest = (1.0 - mel) / (len(CLASSES) - 1)
    return {code: mel if code == "mel" else rest for code in CLASSES}


class QuadrantClassifier:
    """``quadrant_scores`` as a classifier, counting its batches."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    @property
    def model(self) -> ModelInfo:
        return FAKE_MODEL

    def classify(self, jpeg: bytes) -> Scores:
        return self.classify_many([jpeg])[0]

    def classify_many(self, jpegs: Sequence[bytes]) -> list[Scores]:
        self.batches.append(len(jpegs))
        return [quadrant_scores(jpeg) for jpeg in jpegs]


def two_lesions() -> bytes:
    """Light skin with two dark lesions: one in the top-left quadrant (the model looks there),
    one bottom-right (the model ignores it). A 224x224 JPEG, as the pipeline prepares."""
    image = Image.new("RGB", (224, 224), (222, 184, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 52, 60, 108), fill=(70, 45, 35))  # x 4-60 (columns 0-1), y 52-108 (rows 1-3)
    draw.ellipse((138, 138, 198, 198), fill=(70, 45, 35))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()
