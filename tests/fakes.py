"""Test doubles: a classifier whose answers and failures the test chooses."""

from __future__ import annotations

from runtime.classifiers import Scores
from runtime.labels import CLASSES
from runtime.records import ModelInfo

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
