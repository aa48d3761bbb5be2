"""Reads what the pipeline stored: one owner's records, history pages, thumbnails and uploads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, Literal

from runtime.keys import InvalidKey, KeyLayout, check_id
from runtime.records import Prediction, UnreadableRecord, read_stored
from runtime.stores import ObjectNotFound, Store

HistoryStatus = Literal["ok", "error", "pending", "unreadable"]

_log = logging.getLogger(__name__)
_REPORTED_LIMIT: Final = 10_000
"""Unreadable records remembered as reported; past it the memory starts afresh (and reports
each once more) rather than grow without end."""


def log_unreadable(problem: UnreadableRecord) -> None:
    """The default report of an unreadable record: one warning naming its key and why."""
    _log.warning("unreadable record %s: %s", problem.key, problem.reason)


DEFAULT_READERS: Final = 100
"""Reads in flight at once. A History page of 50 with thumbnails is 100 reads, all in one round
trip; S3 serves thousands of reads a second per prefix. An S3 client needs
``max_pool_connections`` this high to keep them all open."""


@dataclass(frozen=True)
class HistoryEntry:
    """One upload in the history: its record, ``pending`` while it is being classified, or
    ``unreadable`` when its record exists but cannot be read (then ``prediction`` is None)."""

    id: str
    status: HistoryStatus
    prediction: Prediction | None
    thumbnail: bytes | None = None
    """The 224x224 model input, when the page was asked for thumbnails and one exists."""


@dataclass(frozen=True)
class HistoryPage:
    """A page of history, newest first, and the cursor of the next page (None at the end)."""

    entries: tuple[HistoryEntry, ...]
    next_cursor: str | None


class Results:
    """Read access to one store's uploads and results, always within one owner's prefixes.

    Every method takes the owner: an id alone never reaches another owner's objects. A record
    that cannot be read is reported once per key (``on_unreadable``) and listed as one
    ``unreadable`` entry: the rest of the history stays readable.
    """

    def __init__(
        self,
        store: Store,
        layout: KeyLayout | None = None,
        readers: int = DEFAULT_READERS,
        on_unreadable: Callable[[UnreadableRecord], None] = log_unreadable,
    ) -> None:
        """Args:
        store: where the pipeline writes.
        layout: its key layout.
        readers: reads in flight at once for a history page.
        on_unreadable: told of each unreadable record the first time a page meets it.
        """
        if readers < 1:
            raise ValueError(f"readers must be at least 1, got {readers}")
        self.store = store
        self.layout = layout or KeyLayout()
        self.readers = readers
        self._on_unreadable = on_unreadable
        self._reported: set[str] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def get(self, owner: str, prediction_id: str) -> Prediction | None:
        """The record of an upload, or None if there is none (yet).

        Raises:
            InvalidKey: ``prediction_id`` or ``owner`` is malformed.
            UnreadableRecord: the record exists but cannot be read.
        """
        key = self.layout.prediction_key(owner, check_id(prediction_id))
        try:
            return read_stored(key, self.store.get(key))
        except ObjectNotFound:
            return None

    def _get_or_unreadable(
        self, owner: str, prediction_id: str
    ) -> Prediction | UnreadableRecord | None:
        try:
            return self.get(owner, prediction_id)
        except UnreadableRecord as problem:
            return problem

    def _report(self, problem: UnreadableRecord) -> None:
        with self._pool_lock:
            if problem.key in self._reported:
                return
            if len(self._reported) >= _REPORTED_LIMIT:
                self._reported.clear()
            self._reported.add(problem.key)
        self._on_unreadable(problem)

    def page(
        self, owner: str, limit: int = 50, cursor: str | None = None, *, thumbnails: bool = False
    ) -> HistoryPage:
        """One page of an owner's uploads, newest first, each with its record or ``pending``.

        Costs one listing and then, all in one bounded pool of ``readers``, at most ``limit``
        record reads (and as many thumbnail reads with ``thumbnails``), however long the
        history is.
        """
        listing = self.store.list_keys(self.layout.owner_uploads(owner), limit, cursor)
        ids = []
        for key in listing.keys:
            try:
                ids.append(self.layout.parse_upload_key(key).id)
            except InvalidKey:
                continue  # named by another tool; its record is found through its own id
        records: list[Prediction | UnreadableRecord | None] = []
        pictures: list[bytes | None] = [None] * len(ids)
        if ids:
            # Records and thumbnails share one pool: the page waits for one round of reads.
            pool = self._readers()
            record_reads = [pool.submit(self._get_or_unreadable, owner, i) for i in ids]
            picture_reads = [pool.submit(self.thumbnail, owner, i) for i in ids if thumbnails]
            records = [read.result() for read in record_reads]
            if thumbnails:
                pictures = [read.result() for read in picture_reads]
        entries = []
        for prediction_id, record, picture in zip(ids, records, pictures, strict=True):
            if isinstance(record, UnreadableRecord):
                self._report(record)
                entries.append(HistoryEntry(prediction_id, "unreadable", None, picture))
                continue
            status: HistoryStatus = "pending" if record is None else record.status
            entries.append(HistoryEntry(prediction_id, status, record, picture))
        return HistoryPage(entries=tuple(entries), next_cursor=listing.next_cursor)

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
        """The records of these uploads, in order, None where there is none yet; up to
        ``readers`` are read at once.

        Raises:
            InvalidKey: an id or ``owner`` is malformed.
            UnreadableRecord: one of the records cannot be read.
        """
        reads = [self._readers().submit(self.get, owner, i) for i in ids]
        return [read.result() for read in reads]

    def _readers(self) -> ThreadPoolExecutor:
        """The pool of readers, made on first use and kept: its threads start as the first
        pages need them and serve every later page. Idle threads end when this object is
        dropped."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.readers, thread_name_prefix="dermascan-read")
            return self._pool
