"""What the app and the CLI submit uploads to: the protocol both pipelines satisfy.

``LocalPipeline`` (the model on this machine) and ``RemotePipeline`` (the deployed stack) store
an upload, and its record appears later; callers wait for it the same way on either. An
explanation is asked for the same way too, and read back once stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from concurrent.futures import Future

    from runtime.cases import CaseDetails
    from runtime.explain import OcclusionMap
    from runtime.images import ImageLimits
    from runtime.records import Prediction
    from runtime.results import Results

DEFAULT_RESULT_TIMEOUT: Final = 180.0
"""Seconds to wait for a record: a serverless endpoint's cold start, or a first model download."""


class ResultTimeout(TimeoutError):
    """The record did not appear in time; the message says what that usually means."""


class Pipeline(Protocol):
    """Where uploads go and their records come from."""

    results: Results
    """Read access to what the pipeline stored."""
    limits: ImageLimits
    """What uploads are accepted."""

    def submit(self, data: bytes, owner: str, case: CaseDetails | None = None) -> str:
        """Store an upload for classification, with the case details given with it (written
        first: see ``pipeline.store_upload``); return its id.

        Raises:
            InvalidImage: the file is empty or over the byte limit (nothing is stored).
        """
        ...

    def delete(self, prediction_id: str, owner: str) -> list[str]:
        """Delete one result and everything derived from it (``deletion.delete_result``).

        Returns:
            The keys deleted (empty: no such result).
        """
        ...

    def delete_owner(self, owner: str) -> int:
        """Delete everything of ``owner`` (``deletion.delete_owner``); return how many objects."""
        ...

    def wait(self, prediction_id: str, owner: str, timeout: float | None = None) -> Prediction:
        """Block until the upload's record exists.

        Raises:
            ResultTimeout: none within ``timeout`` seconds (default: the pipeline's).
        """
        ...

    def request_explanation(self, owner: str, prediction_id: str) -> Future[OcclusionMap] | None:
        """Ask for a result's explanation (computed at most once, stored beside the record).

        Returns:
            Locally, a future of the map (the same one while it is being computed); on AWS
            None: the function computes it, and ``explanation`` returns it once stored.

        Raises:
            InvalidKey: a malformed owner or id.
            NotExplainable: (at once on AWS, from the future locally) no such result, or one
                without scores.
        """
        ...

    def explanation(self, owner: str, prediction_id: str) -> OcclusionMap | None:
        """The result's stored explanation, or None while there is none."""
        ...
