"""Reads what the pipeline stored: one owner's records, history pages, thumbnails and uploads."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from runtime.records import InvalidKey, KeyLayout, Prediction, check_id
from runtime.stores import ObjectNotFound, Store

HistoryStatus = Literal["ok", "error", "pending"]


@dataclass(frozen=True)
class HistoryEntry:
    """One upload in the history: its record, or ``pending`` while it is being classified."""

    id: str
    status: HistoryStatus
    prediction: Prediction | None


@dataclass(frozen=True)
class HistoryPage:
    """A page of history, newest first, and the cursor of the next page (None at the end)."""

    entries: tuple[HistoryEntry, ...]
    next_cursor: str | None


class Results:
    """Read access to one store's uploads and results, always within one owner's prefixes.

    Every method takes the owner: an id alone never reaches another owner's objects.
    """

    def __init__(self, store: Store, layout: KeyLayout | None = None, readers: int = 1) -> None:
        """Args:
        store: where the pipeline writes.
        layout: its key layout.
        readers: records read at once for a history page (S3 rewards a few in parallel).
        """
        if readers < 1:
            raise ValueError(f"readers must be at least 1, got {readers}")
        self.store = store
        self.layout = layout or KeyLayout()
        self._readers = readers

    def get(self, owner: str, prediction_id: str) -> Prediction | None:
        """The record of an upload, or None if there is none (yet).

        Raises:
            InvalidKey: ``prediction_id`` or ``owner`` is malformed.
        """
        key = self.layout.prediction_key(owner, check_id(prediction_id))
        try:
            return Prediction.from_json(self.store.get(key))
        except ObjectNotFound:
            return None

    def page(self, owner: str, limit: int = 50, cursor: str | None = None) -> HistoryPage:
        """One page of an owner's uploads, newest first, each with its record or ``pending``.

        Costs one listing and at most ``limit`` record reads, however long the history is.
        """
        listing = self.store.list_keys(self.layout.owner_uploads(owner), limit, cursor)
        ids = []
        for key in listing.keys:
            try:
                ids.append(self.layout.parse_upload_key(key).id)
            except InvalidKey:
                continue  # named by another tool; its record is found through its own id
        records = self.records(owner, ids)
        entries = tuple(
            HistoryEntry(
                id=prediction_id,
                status="pending" if record is None else record.status,
                prediction=record,
            )
            for prediction_id, record in zip(ids, records, strict=True)
        )
        return HistoryPage(entries=entries, next_cursor=listing.next_cursor)

    def thumbnail(self, owner: str, prediction_id: str) -> bytes | None:
        """The 224x224 model input of an upload, or None if it was never made."""
        try:
            return self.store.get(self.layout.thumbnail_key(owner, check_id(prediction_id)))
        except ObjectNotFound:
            return None

    def upload_key(self, owner: str, prediction_id: str) -> str | None:
        """The key of an upload named by dermascan, whatever its extension."""
        prefix = f"{self.layout.owner_uploads(owner)}{check_id(prediction_id)}."
        keys = self.store.list_keys(prefix, 1).keys
        return keys[0] if keys else None

    def upload(self, owner: str, prediction_id: str) -> bytes | None:
        """The uploaded file itself, or None if there is no such upload."""
        key = self.upload_key(owner, prediction_id)
        if key is None:
            return None
        try:
            return self.store.get(key)
        except ObjectNotFound:
            return None  # deleted between the listing and the read

    def records(self, owner: str, ids: Sequence[str]) -> list[Prediction | None]:
        """The records of these uploads, in order, None where there is none yet; ``readers``
        are read at once.

        Raises:
            InvalidKey: an id or ``owner`` is malformed.
        """
        if self._readers == 1 or len(ids) < 2:
            return [self.get(owner, prediction_id) for prediction_id in ids]
        with ThreadPoolExecutor(max_workers=min(self._readers, len(ids))) as pool:
            return list(pool.map(lambda prediction_id: self.get(owner, prediction_id), ids))
