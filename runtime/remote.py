"""The deployed pipeline seen from outside: upload to S3, then wait for the Lambda's record."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from runtime.cases import CaseDetails
from runtime.deletion import (
    SETTLE_PASSES,
    SETTLE_SECONDS,
    delete_owner,
    delete_result,
    unfinished,
)
from runtime.explain import OcclusionMap
from runtime.explaining import NotExplainable, stored_explanation
from runtime.images import ImageLimits
from runtime.keys import KeyLayout
from runtime.pipeline import store_upload
from runtime.records import Prediction
from runtime.results import Results
from runtime.stores import Store
from runtime.submission import DEFAULT_RESULT_TIMEOUT, ResultTimeout


class RemotePipeline:
    """Submits uploads to the stack's bucket and polls for their records with backoff.

    There is no second invocation and no fixed sleep: the upload's own S3 notification is the
    only trigger, and the record is polled at its known key.
    """

    def __init__(
        self,
        store: Store,
        *,
        layout: KeyLayout | None = None,
        limits: ImageLimits | None = None,
        timeout: float = DEFAULT_RESULT_TIMEOUT,
        first_poll: float = 0.5,
        max_poll: float = 5.0,
        settle: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.layout = layout or KeyLayout()
        self.limits = limits or ImageLimits()
        self.results = Results(store, self.layout)
        self.timeout = timeout
        self._first_poll = first_poll
        self._max_poll = max_poll
        self._settle = settle

    def submit(self, data: bytes, owner: str, case: CaseDetails | None = None) -> str:
        """Upload, case details first; returns the id (``pipeline.store_upload`` says what is
        refused)."""
        return store_upload(
            self.store, data, owner, case, layout=self.layout, limits=self.limits
        ).id

    def delete(self, prediction_id: str, owner: str) -> list[str]:
        """Delete one result and everything derived from it (``deletion.delete_result``).

        A result the function is still classifying or explaining can have a write land just
        after the deletion (the function cannot be stopped or waited for): the deletion then
        looks again ``SETTLE_SECONDS`` later, while it still finds work in flight
        (``deletion.unfinished``), at most ``SETTLE_PASSES`` times.
        """
        return self._until_settled(
            lambda: delete_result(self.store, self.layout, owner, prediction_id)
        )

    def delete_owner(self, owner: str) -> int:
        """Delete everything of ``owner`` in the bucket (``deletion.delete_owner``), looking
        again while work was in flight, as ``delete`` does."""
        return len(self._until_settled(lambda: delete_owner(self.store, self.layout, owner)))

    def _until_settled(self, deletion: Callable[[], list[str]]) -> list[str]:
        this_pass = deletion()
        deleted = list(this_pass)
        for _ in range(SETTLE_PASSES):
            if not unfinished(this_pass, self.layout):
                break
            self._settle(SETTLE_SECONDS)
            this_pass = deletion()
            deleted += this_pass
        return deleted

    def wait(self, prediction_id: str, owner: str, timeout: float | None = None) -> Prediction:
        """Poll for the record.

        Raises:
            ResultTimeout: none within ``timeout``, with what that usually means.
        """
        limit = timeout or self.timeout
        deadline = time.monotonic() + limit
        delay = self._first_poll
        while True:
            record = self.results.get(owner, prediction_id)
            if record is not None:
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ResultTimeout(
                    f"No result after {limit:.0f} seconds. The first image after a quiet spell "
                    "can take a minute or two while the serverless model endpoint starts (a "
                    "cold start). The upload is safe: its result will appear in History."
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 1.6, self._max_poll)

    def request_explanation(self, owner: str, prediction_id: str) -> None:
        """Ask the function for a result's explanation: a small object under
        ``explain-requests/``, whose notification is the only trigger (the app never calls
        the endpoint). Nothing is written if the explanation is already stored.

        Raises:
            InvalidKey: a malformed owner or id.
            NotExplainable: no such result (for this owner), or one without scores.
            ExplanationError: a stored explanation cannot be read.
        """
        if self.explanation(owner, prediction_id) is not None:
            return
        record = self.results.get(owner, prediction_id)
        if record is None:
            raise NotExplainable(f"there is no result {prediction_id} to explain")
        if record.status != "ok":
            raise NotExplainable(f"the result {prediction_id} has no scores to explain")
        requested_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.store.put(
            self.layout.explain_request_key(owner, prediction_id),
            json.dumps({"requested_at": requested_at}).encode("utf-8"),
            "application/json",
        )

    def explanation(self, owner: str, prediction_id: str) -> OcclusionMap | None:
        """The result's stored explanation, or None while there is none."""
        return stored_explanation(self.store, self.layout, owner, prediction_id)
