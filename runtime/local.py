"""Local mode: the same pipeline on one machine, a directory store and a bounded worker pool."""

from __future__ import annotations

import os
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_for
from typing import Any

from runtime.cases import CaseDetails
from runtime.classifiers import Classifier, TransformersClassifier, as_batch
from runtime.deletion import delete_owner, delete_result
from runtime.explain import OcclusionMap
from runtime.explaining import explain, stored_explanation
from runtime.images import ImageLimits
from runtime.keys import LOCAL_OWNER, InvalidKey, KeyLayout, check_id, check_owner
from runtime.pipeline import Clock, process_upload, store_upload, utc_now
from runtime.records import Prediction
from runtime.results import HistoryPage, Results
from runtime.settings import LocalSettings
from runtime.stores import LocalStore
from runtime.submission import DEFAULT_RESULT_TIMEOUT, ResultTimeout


class LocalPipeline:
    """Stores uploads in a ``LocalStore`` and classifies them on a bounded pool of threads.

    It is what the app's local backend and the CLI use: uploads are written first and the
    records follow, exactly as in AWS, so nothing is lost if the process stops in between
    (``resume_pending`` picks such uploads up again).
    """

    def __init__(
        self,
        store: LocalStore,
        classifier: Classifier,
        *,
        workers: int = 1,
        layout: KeyLayout | None = None,
        limits: ImageLimits | None = None,
        clock: Clock = utc_now,
        timeout: float = DEFAULT_RESULT_TIMEOUT,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.store = store
        self.classifier = classifier
        self.layout = layout or KeyLayout()
        self.results = Results(store, self.layout)
        self.limits = limits or ImageLimits()
        self._clock = clock
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dermascan")
        self._running: dict[str, Future[Prediction]] = {}
        self._explaining: dict[tuple[str, str], Future[OcclusionMap]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: LocalSettings) -> LocalPipeline:
        """The local pipeline as ``settings`` describe it (see ``LocalSettings.from_env``)."""
        cores = os.cpu_count() or 1
        # One share of the cores per worker: torch's parallel sections wait for their slowest
        # thread, so oversubscribed workers stall each other.
        threads = max(1, cores // settings.workers) if settings.workers > 1 else None
        return cls(
            LocalStore(settings.data_dir),
            TransformersClassifier(settings.model, settings.model_revision, threads=threads),
            workers=settings.workers,
            timeout=settings.result_timeout,
        )

    def submit(self, data: bytes, owner: str = LOCAL_OWNER, case: CaseDetails | None = None) -> str:
        """Store an upload (its case details first) and queue it for classification.

        The upload is stored under an opaque id, never the user's file name. A file that is
        not an image is stored too, and its record says why it was refused.

        Returns:
            The new prediction id.

        Raises:
            InvalidImage: the file is empty or over the byte limit (nothing is stored).
        """
        upload = store_upload(self.store, data, owner, case, layout=self.layout, limits=self.limits)
        self._enqueue(upload.id, upload.key)
        return upload.id

    def delete(self, prediction_id: str, owner: str = LOCAL_OWNER) -> list[str]:
        """Delete one result and everything derived from it (``deletion.delete_result``).

        A result still queued is taken off the queue and one being classified is waited for
        first: its worker would otherwise write the thumbnail or the record after the
        deletion, bringing the result back. The upload is deleted first, so nothing can
        queue it again; should something have queued it meanwhile, the deletion runs again.

        Returns:
            The keys deleted (empty: no such result).

        Raises:
            InvalidKey: ``prediction_id`` or ``owner`` is malformed.
        """
        deleted: list[str] = []
        for _ in range(3):
            self._settle([prediction_id], [(owner, prediction_id)])
            deleted += delete_result(self.store, self.layout, owner, prediction_id)
            with self._lock:
                if prediction_id not in self._running or self._running[prediction_id].done():
                    return deleted
        return deleted

    def delete_owner(self, owner: str = LOCAL_OWNER) -> int:
        """Delete everything of ``owner`` (``deletion.delete_owner``), after the work in flight
        (of any owner: the queue does not say whose) has finished or been taken off the queue.

        Returns:
            How many objects were deleted.
        """
        with self._lock:
            running = list(self._running)
            explaining = [key for key in self._explaining if key[0] == owner]
        self._settle(running, explaining)
        return len(delete_owner(self.store, self.layout, owner))

    def _settle(
        self, prediction_ids: list[str], explanations: list[tuple[str, str]] | None = None
    ) -> None:
        """Cancel these uploads' (and these explanations') queued work, and wait for the work
        already running: an explanation finishing after a deletion would store its map again."""
        with self._lock:
            futures: list[Future[Any]] = [
                self._running[i] for i in prediction_ids if i in self._running
            ]
            futures += [self._explaining[k] for k in explanations or [] if k in self._explaining]
        # ``cancel`` succeeds only for work not started yet, which then never will be. Only
        # the rest is waited for: a cancelled future counts as done only once a worker has
        # dequeued it, which may be after all the work ahead of it.
        wait_for([future for future in futures if not future.cancel()])

    def result(self, prediction_id: str, owner: str = LOCAL_OWNER) -> Prediction | None:
        """The record of an upload, or None while it is pending.

        Raises:
            InvalidKey: ``prediction_id`` is not an id.
        """
        return self.results.get(owner, prediction_id)

    def wait(
        self, prediction_id: str, owner: str = LOCAL_OWNER, timeout: float | None = None
    ) -> Prediction:
        """Block until the record of an upload exists.

        Raises:
            ResultTimeout: no record within ``timeout`` seconds (default: the pipeline's).
            ClassifierError: classification failed in a way that is not the image's fault
                (the upload stays pending and can be retried with ``resume_pending``).
            LookupError: there is no such upload (or it was deleted).
        """
        limit = timeout or self.timeout
        with self._lock:
            running = self._running.get(prediction_id)
        if running is not None:
            try:
                return running.result(timeout=limit)
            except FutureTimeout:
                raise ResultTimeout(
                    f"No result after {limit:.0f} seconds. The model may still be downloading "
                    "(first run) or busy; the result will appear in History."
                ) from None
            except CancelledError:
                pass  # deleted while queued: the store says what is left (nothing)
        record = self.result(prediction_id, owner)
        if record is not None:
            return record
        if self.results.upload_key(owner, prediction_id) is None:
            raise LookupError(f"no upload with id {prediction_id}")
        raise ResultTimeout(f"{prediction_id} is pending but not being processed; resume it")

    def history(
        self, owner: str = LOCAL_OWNER, limit: int = 50, cursor: str | None = None
    ) -> HistoryPage:
        """One page of an owner's uploads, newest first, with their records (``Results.page``)."""
        return self.results.page(owner, limit, cursor)

    def resume_pending(self, owner: str = LOCAL_OWNER, scan_limit: int = 1000) -> list[str]:
        """Queue again the newest uploads (up to ``scan_limit``) that have no record yet.

        Returns:
            The ids queued.
        """
        queued: list[str] = []
        cursor: str | None = None
        scanned = 0
        while scanned < scan_limit:
            page = self.store.list_keys(
                self.layout.owner_uploads(owner), min(200, scan_limit - scanned), cursor
            )
            for key in page.keys:
                try:
                    upload = self.layout.parse_upload_key(key)
                except InvalidKey:
                    continue
                with self._lock:
                    running = self._running.get(upload.id)
                busy = running is not None and not running.done()
                prediction_key = self.layout.prediction_key(owner, upload.id)
                if not busy and not self.store.exists(prediction_key):
                    self._enqueue(upload.id, key)
                    queued.append(upload.id)
            scanned += len(page.keys)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return queued

    def request_explanation(self, owner: str, prediction_id: str) -> Future[OcclusionMap]:
        """Explain a result in the worker pool (``explaining.explain``: at most once, stored).

        While one is being computed for the result, the same future is returned: asking again
        (a second click, another session) queues no second batch.

        Returns:
            The map's future; it raises ``NotExplainable`` or ``ClassifierError`` if it failed.

        Raises:
            InvalidKey: a malformed owner or id.
        """
        wanted = (check_owner(owner), check_id(prediction_id))
        with self._lock:
            running = self._explaining.get(wanted)
            if running is not None and not running.done():
                return running
            future = self._executor.submit(
                explain, self.store, self.layout, as_batch(self.classifier), *wanted
            )
            self._explaining[wanted] = future

        def forget(done: Future[OcclusionMap]) -> None:
            with self._lock:
                if self._explaining.get(wanted) is done:
                    del self._explaining[wanted]

        future.add_done_callback(forget)
        return future

    def explanation(self, owner: str, prediction_id: str) -> OcclusionMap | None:
        """The result's stored explanation, or None while there is none."""
        return stored_explanation(self.store, self.layout, owner, prediction_id)

    def close(self) -> None:
        """Finish the queued work and stop the workers."""
        self._executor.shutdown(wait=True)

    def _enqueue(self, prediction_id: str, key: str) -> None:
        future = self._executor.submit(
            process_upload,
            key,
            store=self.store,
            classifier=self.classifier,
            layout=self.layout,
            limits=self.limits,
            clock=self._clock,
        )
        with self._lock:
            self._running[prediction_id] = future
        future.add_done_callback(lambda _: self._forget(prediction_id, future))

    def _forget(self, prediction_id: str, future: Future[Prediction]) -> None:
        # A failed run is kept so ``wait`` can report why; a finished one is read from the store,
        # a cancelled one (its result deleted) is forgotten.
        if future.cancelled() or future.exception() is None:
            with self._lock:
                if self._running.get(prediction_id) is future:
                    del self._running[prediction_id]
