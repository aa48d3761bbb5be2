"""A result's explanation, computed at most once and stored beside its record.

``runtime.explain`` makes an occlusion map from a model input; this module finds that input
(the record's thumbnail, the very 224x224 JPEG the model scored), classifies its masked copies
in one ``classify_many`` call, and stores the heat map and then its parameters under
``explanations/<owner>/<id>``. Both backends call ``explain``: the local pipeline in its worker,
the Lambda for an ``explain-requests/`` notification. The parameters (JSON) are written last,
so their presence means the explanation is complete, and a stored one is returned as it is.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from runtime.batching import DEFAULT_GRID
from runtime.classifiers import BatchClassifier
from runtime.explain import (
    MALIGNANT_TARGET,
    ExplanationError,
    OcclusionMap,
    heatmap_png,
    occlusion_map,
)
from runtime.keys import KeyLayout
from runtime.records import ModelInfo, UnreadableRecord, read_stored
from runtime.stores import ObjectNotFound, Store

MAX_EXPLANATION_BYTES: Final = 64 * 1024
"""A stored map is ~2 KB (a 32 x 32 grid ~25 KB): anything larger is not one of ours."""
MAX_MODEL_INPUT_BYTES: Final = 1024 * 1024


class NotExplainable(ExplanationError):
    """The result cannot be explained: no such record, an error record, or no model input.
    Permanent: asking again does not help until the result exists."""


class ResultDeleted(NotExplainable):
    """The result was deleted while it was explained; nothing of the explanation is stored."""


@dataclass(frozen=True)
class Explanation:
    """A stored explanation: the map, and what made it when."""

    occlusion: OcclusionMap
    model: ModelInfo
    created_at: str
    """When it was computed, ISO 8601 in UTC."""
    seconds: float
    """How long computing it took (reading the input, the batch, storing), for metrics."""

    def to_json(self) -> str:
        """The map's own JSON (``OcclusionMap.to_json``) with the model and the time added."""
        data = json.loads(self.occlusion.to_json())
        data["model"] = dataclasses.asdict(self.model)
        data["created_at"] = self.created_at
        data["seconds"] = round(self.seconds, 3)
        return json.dumps(data, separators=(",", ":"))


def stored_explanation(
    store: Store, layout: KeyLayout, owner: str, prediction_id: str
) -> OcclusionMap | None:
    """The result's stored explanation, or None while there is none (or it is incomplete).

    Raises:
        InvalidKey: ``owner`` or ``prediction_id`` is malformed.
        ExplanationError: what is stored is not a map this dermascan reads.
    """
    _, json_key = layout.explanation_keys(owner, prediction_id)
    try:
        data = store.get(json_key, max_bytes=MAX_EXPLANATION_BYTES)
    except ObjectNotFound:
        return None
    return OcclusionMap.from_json(data)


def explain(
    store: Store,
    layout: KeyLayout,
    classifier: BatchClassifier,
    owner: str,
    prediction_id: str,
    *,
    grid: int = DEFAULT_GRID,
    target: str = MALIGNANT_TARGET,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_new: Callable[[Explanation], None] | None = None,
) -> OcclusionMap:
    """The result's explanation: the stored one, or computed now and stored.

    Delivery is at least once and a user may ask twice, so an explanation that is stored is
    returned without classifying anything (one per result: whatever grid and target it was
    made with). Two runs at the very same moment (which the local
    pipeline prevents, and SQS's visibility timeout makes rare) may both classify; the first
    to store the parameters wins and both return its map.

    Args:
        store: where the record, its thumbnail and the explanation live.
        layout: the key layout.
        classifier: the model that scored the record (its batch call is used once).
        owner, prediction_id: which result.
        grid: regions per side (``DEFAULT_GRID``: 49 regions, 50 images with the original).
        target: ``malignant`` (the malignant total) or a class code.
        clock: the time source for ``created_at``.
        on_new: called with the explanation only if this call computed and stored it.

    Raises:
        InvalidKey: ``owner`` or ``prediction_id`` is malformed.
        NotExplainable: no record, an error record, or its model input is gone; or the result
            was deleted while it was explained (nothing is stored).
        ExplanationError: a bad grid or target.
        ClassifierError: the model failed; nothing is stored, so asking again starts afresh.
    """
    png_key, json_key = layout.explanation_keys(owner, prediction_id)
    stored = stored_explanation(store, layout, owner, prediction_id)
    if stored is not None:
        return stored
    started = time.perf_counter()
    model_input = _model_input(store, layout, owner, prediction_id)
    occlusion = occlusion_map(model_input, classifier.classify_many, target=target, grid=grid)
    if not store.exists(layout.prediction_key(owner, prediction_id)):
        # Deleted while this ran: storing the map now would outlive the deletion.
        raise ResultDeleted(f"the result {prediction_id} was deleted while it was explained")
    store.put(png_key, heatmap_png(occlusion), "image/png")
    explanation = Explanation(
        occlusion=occlusion,
        model=classifier.model,
        created_at=clock().astimezone(UTC).isoformat(timespec="milliseconds"),
        seconds=time.perf_counter() - started,
    )
    # Last, and only if absent: its presence is what says the explanation is complete.
    if store.put_if_absent(json_key, explanation.to_json().encode("utf-8"), "application/json"):
        if on_new is not None:
            on_new(explanation)
        return occlusion
    winner = stored_explanation(store, layout, owner, prediction_id)
    return winner if winner is not None else occlusion


def _model_input(store: Store, layout: KeyLayout, owner: str, prediction_id: str) -> bytes:
    record_key = layout.prediction_key(owner, prediction_id)
    try:
        record = read_stored(record_key, store.get(record_key))
    except ObjectNotFound:
        raise NotExplainable(f"there is no result {prediction_id} to explain") from None
    except UnreadableRecord as exc:
        raise NotExplainable(f"the result {prediction_id} cannot be read: {exc.reason}") from exc
    if record.status != "ok":
        raise NotExplainable(
            f"the result {prediction_id} has no scores to explain (the image was refused)"
        )
    try:
        return store.get(layout.thumbnail_key(owner, prediction_id), MAX_MODEL_INPUT_BYTES)
    except ObjectNotFound:
        raise NotExplainable(
            f"the model input of {prediction_id} (its thumbnail) is missing; classify the "
            "upload again to explain it"
        ) from None
