"""The app's one door to data: submit uploads, wait for records, read results and history.

One ``Backend`` over either runtime pipeline: ``local_backend`` (the default: the model on this
machine, data in a directory) or ``aws_backend`` (``DERMASCAN_BACKEND=aws``: uploads go to the
stack's bucket and the Lambda function writes the records). Pages never see which one runs.
No Streamlit here: sessions, caches and sign-in live in ``app.session``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from runtime.cases import CaseDetails
from runtime.classifiers import (
    DEFAULT_MODEL_ID,
    DEFAULT_MODEL_REVISION,
    LoadState,
    TransformersClassifier,
)
from runtime.confirmed import (
    confirmed_results,
    latest_outcomes,
    outcome_history,
    outcome_keys,
    record_outcome,
)
from runtime.explain import OcclusionMap
from runtime.images import ImageLimits
from runtime.keys import LOCAL_OWNER, SHARED_OWNER
from runtime.labels import CLASSES
from runtime.live_accuracy import ConfirmedReport, evaluate_confirmed
from runtime.local import LocalPipeline
from runtime.outcomes import ConfirmedOutcome
from runtime.records import Prediction
from runtime.remote import RemotePipeline
from runtime.results import DEFAULT_READERS, HistoryEntry, HistoryPage
from runtime.settings import AppSettings
from runtime.stores import LocalStore, ObjectNotFound, ObjectTooLarge, S3Store
from runtime.submission import Pipeline
from runtime.timeline import results_for_reference
from runtime.triage import DEFAULT_RULE, Level, TriageRule, triage

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mypy_boto3_s3 import S3Client

# At most this many records are read to fill one filtered history page; a rare class in a long
# history then costs a few bounded pages, never a scan of everything.
HISTORY_SCAN_LIMIT: Final = 500
MAX_HEATMAP_BYTES: Final = 1024 * 1024  # a 224x224 RGBA PNG of flat squares is a few KB
MAX_REQUEST_BYTES: Final = 4096  # an explanation request is one timestamp
SAMPLES_DIR: Final = Path(__file__).resolve().parents[1] / "samples" / "ham10000"


@dataclass(frozen=True)
class ModelStatus:
    """Whether the model can answer now, for the page to say so."""

    state: LoadState | Literal["remote"]
    """``remote`` on AWS: the endpoint is the stack's, and starts on its own."""
    downloading: bool = False
    """The model was not in the local cache when loading began: it is being downloaded."""
    error: str | None = None


@dataclass(frozen=True)
class ConfiguredModel:
    """The model the app is configured with: a Hub id and revision, or a local directory.

    On AWS the app does not know it: the stack's ``modelId`` and ``modelRevision`` decide, and
    each record names the model that made it.
    """

    id: str | None
    revision: str | None
    local_path: bool

    @property
    def is_default(self) -> bool:
        """Whether it is the pinned model this app's documentation describes."""
        return self.id == DEFAULT_MODEL_ID and self.revision == DEFAULT_MODEL_REVISION


class Backend:
    """What the pages can ask for, on either pipeline. Every call is scoped to one owner."""

    def __init__(
        self,
        pipeline: Pipeline,
        label: str,
        default_owner: str,
        rule: TriageRule = DEFAULT_RULE,
    ) -> None:
        """Args:
        pipeline: where uploads go and records come from.
        label: where data lives, for the page header (``local``, ``AWS prod``).
        default_owner: the owner of everything when nobody signs in.
        rule: the triage thresholds results are shown and filtered by.
        """
        self.pipeline = pipeline
        self.results = pipeline.results
        self.label = label
        self.default_owner = default_owner
        self.rule = rule
        self._downloading = False

    def warm_up(self) -> None:
        """Start loading the local model in the background, so the first classification does
        not wait for it unseen (the page shows ``model_status`` meanwhile)."""
        classifier = self._local_model()
        if classifier is not None:
            self._downloading = classifier.needs_download
            classifier.start_loading()

    def model_status(self) -> ModelStatus:
        """Where the model stands: loading (and downloading), ready, failed, or remote."""
        classifier = self._local_model()
        if classifier is None:
            return ModelStatus("remote")
        error = classifier.load_error
        state = classifier.load_state
        return ModelStatus(
            state,
            downloading=self._downloading and state == "loading",
            error=str(error) if error is not None and state == "failed" else None,
        )

    def model_description(self) -> ConfiguredModel:
        """Which model this app's results come from, as configured."""
        classifier = self._local_model()
        if classifier is not None:
            info = classifier.model
            return ConfiguredModel(info.id, info.revision, local_path=info.revision is None)
        return ConfiguredModel(None, None, local_path=False)

    def _local_model(self) -> TransformersClassifier | None:
        pipeline = self.pipeline
        if isinstance(pipeline, LocalPipeline):
            classifier = pipeline.classifier
            if isinstance(classifier, TransformersClassifier):
                return classifier
        return None

    @property
    def limits(self) -> ImageLimits:
        """What uploads are accepted."""
        return self.pipeline.limits

    def submit(
        self, owner: str, data: bytes, filename: str, case: CaseDetails | None = None
    ) -> str:
        """Store an upload for classification, with the case details given (if any), and
        return its id.

        ``filename`` is never stored or used in a key.

        Raises:
            InvalidImage: empty or over the byte limit (nothing is stored).
        """
        return self.pipeline.submit(data, owner, case)

    def wait(self, owner: str, prediction_id: str, timeout: float | None = None) -> Prediction:
        """Block until the record exists.

        Raises:
            ResultTimeout: with a message for a person, if no record comes in time.
            ClassifierError: (local) the model failed in a way that is not the image's fault.
        """
        return self.pipeline.wait(prediction_id, owner, timeout)

    def result(self, owner: str, prediction_id: str) -> Prediction | None:
        """The record, or None if it does not exist (yet, or for this owner)."""
        return self.results.get(owner, prediction_id)

    def history_page(
        self, owner: str, limit: int, cursor: str | None, *, thumbnails: bool = False
    ) -> HistoryPage:
        """One unfiltered page of history, newest first (``Results.page``)."""
        return self.results.page(owner, limit, cursor, thumbnails=thumbnails)

    def thumbnail(self, owner: str, prediction_id: str) -> bytes | None:
        """The 224x224 model input, or None."""
        return self.results.thumbnail(owner, prediction_id)

    def thumbnails(self, owner: str, prediction_ids: Sequence[str]) -> dict[str, bytes | None]:
        """Several results' model inputs by id (None where missing), read together in one
        bounded pool, as a History page's are: a timeline costs one round trip, not one each."""
        with ThreadPoolExecutor(max(1, min(DEFAULT_READERS, len(prediction_ids)))) as pool:
            found = pool.map(lambda i: self.results.thumbnail(owner, i), prediction_ids)
            return dict(zip(prediction_ids, found, strict=True))

    def image(self, owner: str, prediction_id: str) -> bytes | None:
        """The uploaded file, or None."""
        return self.results.upload(owner, prediction_id)

    # --- case references, privacy and deletion ----------------------------------------------

    retention_days: int | None = None
    """How long the AWS bucket keeps data (the stack's setting), when the app was told."""

    def results_for_reference(self, owner: str, reference: str) -> list[Prediction]:
        """The results filed under a case reference, oldest first (``timeline``).

        Raises:
            InvalidCase: ``reference`` is not a valid reference.
        """
        return results_for_reference(self.results, owner, reference)

    def delete_result(self, owner: str, prediction_id: str) -> list[str]:
        """Delete one result and everything derived from it; the keys deleted."""
        return self.pipeline.delete(prediction_id, owner)

    def delete_all(self, owner: str) -> int:
        """Delete everything of ``owner``; how many objects were deleted."""
        return self.pipeline.delete_owner(owner)

    def data_place(self) -> DataPlace:
        """Where this backend keeps what is uploaded, and for how long."""
        store = self.results.store
        if isinstance(store, LocalStore):
            return DataPlace("local", str(store.root), None)
        if isinstance(store, S3Store):
            return DataPlace("aws", store.bucket, self.retention_days)
        return DataPlace("other", self.label, None)

    def request_explanation(self, owner: str, prediction_id: str) -> Future[OcclusionMap] | None:
        """Ask for the result's explanation (computed once, by the local worker or the
        function); poll ``explanation`` for it.

        Returns:
            Locally, the map's future (it raises ``NotExplainable`` or ``ClassifierError`` if
            the worker failed); on AWS None.

        Raises:
            NotExplainable: (on AWS) no such result, or one without scores.
        """
        return self.pipeline.request_explanation(owner, prediction_id)

    def explanation(self, owner: str, prediction_id: str) -> OcclusionMap | None:
        """The stored explanation (its map and parameters), or None while there is none."""
        return self.pipeline.explanation(owner, prediction_id)

    def explanation_requested_at(self, owner: str, prediction_id: str) -> datetime | None:
        """When an explanation was asked of the function (AWS), or None if it was not; the
        local pipeline keeps its requests in memory (``request_explanation`` returns them).
        A request whose time cannot be read counts as long ago, so it can be asked again."""
        key = self.results.layout.explain_request_key(owner, prediction_id)
        try:
            data = json.loads(self.results.store.get(key, max_bytes=MAX_REQUEST_BYTES))
            moment = datetime.fromisoformat(data["requested_at"])
        except ObjectNotFound:
            return None
        except (ObjectTooLarge, ValueError, TypeError, KeyError):
            return datetime.min.replace(tzinfo=UTC)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def explanation_png(self, owner: str, prediction_id: str) -> bytes | None:
        """The stored heat map (a 224x224 RGBA PNG to lay over ``thumbnail``), or None while
        there is no complete explanation."""
        if self.explanation(owner, prediction_id) is None:
            return None  # the parameters are written last: without them the PNG may be stale
        png_key, _ = self.results.layout.explanation_keys(owner, prediction_id)
        try:
            return self.results.store.get(png_key, max_bytes=MAX_HEATMAP_BYTES)
        except ObjectNotFound:
            return None

    # --- confirmed outcomes and live accuracy (issue 14) ---------------------------------------

    def record_outcome(
        self, owner: str, prediction_id: str, diagnosis: str, method: str, confirmed_on: date
    ) -> ConfirmedOutcome:
        """Record a clinician's confirmed diagnosis of a result, recorded now; an earlier one
        is kept (``runtime.confirmed``: append-only, the latest counts).

        Raises:
            InvalidOutcome: a field is wrong (a date after today, an unknown diagnosis).
            OutcomeRefused: the result does not exist for ``owner`` or was not classified.
        """
        outcome = ConfirmedOutcome.record(
            prediction_id=prediction_id,
            owner=owner,
            diagnosis=diagnosis,
            method=method,
            confirmed_on=confirmed_on,
        )
        record_outcome(self.results.store, self.results.layout, outcome)
        return outcome

    def outcome_history(self, owner: str, prediction_id: str) -> list[ConfirmedOutcome]:
        """A result's confirmed outcomes, the one that counts first."""
        return outcome_history(self.results.store, self.results.layout, owner, prediction_id)

    def outcome_keys(self, owner: str) -> dict[str, list[str]]:
        """Which results of ``owner`` are confirmed: their outcome entries' keys, by id
        (``confirmed.outcome_keys``: listings only)."""
        return outcome_keys(self.results.store, self.results.layout, owner)

    def latest_outcomes(
        self,
        owner: str,
        *,
        listed: Mapping[str, Sequence[str]] | None = None,
        only: Collection[str] | None = None,
    ) -> dict[str, ConfirmedOutcome]:
        """The outcome that counts for each confirmed result of ``owner``, by id; with
        ``only``, for those results alone (``confirmed.latest_outcomes``)."""
        return latest_outcomes(
            self.results.store, self.results.layout, owner, listed=listed, only=only
        )

    def performance(self, owner: str) -> ConfirmedReport:
        """Live accuracy over ``owner``'s confirmed results, with the triage rule in use (the
        numbers ``dermascan evaluate --confirmed`` prints)."""
        pairs = confirmed_results(self.results.store, self.results.layout, owner)
        return evaluate_confirmed(pairs, self.rule)


@dataclass(frozen=True)
class DataPlace:
    """Where uploads and results are kept, for the privacy notice."""

    kind: Literal["local", "aws", "other"]
    where: str
    """The data directory's path, or the bucket's name."""
    retention_days: int | None
    """AWS: the bucket's retention in days, when the app was told; None otherwise."""


def local_backend(pipeline: LocalPipeline, rule: TriageRule = DEFAULT_RULE) -> Backend:
    """The embedded default: the model on this machine, data in a directory."""
    return Backend(pipeline, label="local", default_owner=LOCAL_OWNER, rule=rule)


def aws_backend(
    pipeline: RemotePipeline, stack: str = "", rule: TriageRule = DEFAULT_RULE
) -> Backend:
    """The deployed stack: uploads to its bucket, records from its Lambda function."""
    return Backend(pipeline, f"AWS {stack}".strip(), default_owner=SHARED_OWNER, rule=rule)


def backend_from_settings(settings: AppSettings) -> Backend:
    """The backend ``settings`` describe (``AppSettings.from_env`` reads them)."""
    if settings.remote is not None:
        remote = settings.remote
        store = S3Store(_s3_client(), remote.bucket)
        pipeline = RemotePipeline(store, timeout=remote.result_timeout)
        backend = aws_backend(pipeline, remote.stack, settings.rule)
        backend.retention_days = remote.retention_days
        return backend
    if settings.local is None:
        raise ValueError("AppSettings holds neither local nor remote settings")
    return local_backend(LocalPipeline.from_settings(settings.local), settings.rule)


def _s3_client() -> S3Client:
    import boto3
    from botocore.config import Config

    # As many connections as a history page has reads in flight, so none waits for a socket.
    return boto3.client("s3", config=Config(max_pool_connections=DEFAULT_READERS))


@dataclass(frozen=True)
class HistoryFilter:
    """Which history entries to show. With nothing set, all of them, pending ones included.

    ``levels`` filters by the triage level (the same rule the verdict uses), so "refer" finds
    every result with a malignant signal, whatever its top class.
    """

    classes: frozenset[str] = frozenset()
    levels: frozenset[Level] = frozenset()
    errors_only: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.classes) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown classes in filter: {sorted(unknown)}")

    @property
    def active(self) -> bool:
        return bool(self.classes) or bool(self.levels) or self.errors_only

    def matches(self, entry: HistoryEntry, rule: TriageRule = DEFAULT_RULE) -> bool:
        if not self.active:
            return True
        record = entry.prediction
        if self.errors_only:
            return entry.status in ("error", "unreadable")
        if record is None or record.top is None:
            return False
        if self.levels and triage(record.scores, rule).level not in self.levels:
            return False
        return not self.classes or record.top in self.classes


STATUS_LABELS: Final = {
    "ok": "ok",
    "error": "error",
    "pending": "pending",
    "unreadable": "record unreadable",
}


def status_label(entry: HistoryEntry) -> str:
    """How a history entry's status reads in a list (an unreadable record says so)."""
    return STATUS_LABELS[entry.status]


@dataclass(frozen=True)
class FilteredPage:
    """A history page after filtering, and how many entries were looked at to fill it."""

    entries: tuple[HistoryEntry, ...]
    next_cursor: str | None
    scanned: int


def history(
    backend: Backend,
    owner: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
    filters: HistoryFilter | None = None,
    scan_limit: int = HISTORY_SCAN_LIMIT,
    thumbnails: bool = False,
) -> FilteredPage:
    """Up to ``limit`` matching entries, newest first, reading at most ``scan_limit`` records.

    Without filters this is one page: one listing, then its records (and thumbnails) read in
    one bounded pool. With filters it reads further pages until the page is full or
    ``scan_limit`` entries were looked at; ``next_cursor`` then continues the scan.
    """
    filters = filters or HistoryFilter()
    matched: list[HistoryEntry] = []
    scanned = 0
    while True:
        size = min(limit - len(matched), scan_limit - scanned)
        page = backend.history_page(owner, size, cursor, thumbnails=thumbnails)
        scanned += len(page.entries)
        matched.extend(e for e in page.entries if filters.matches(e, backend.rule))
        cursor = page.next_cursor
        if cursor is None or len(matched) >= limit or scanned >= scan_limit:
            return FilteredPage(entries=tuple(matched), next_cursor=cursor, scanned=scanned)


@dataclass(frozen=True)
class Sample:
    """A bundled HAM10000 image with its confirmed diagnosis."""

    code: str
    image_id: str
    path: Path
    confirmed_by: str


def load_samples(directory: Path = SAMPLES_DIR) -> list[Sample]:
    """The bundled samples, one per class, as ``labels.csv`` lists them."""
    confirmed = {"histo": "histopathology", "follow_up": "follow-up", "consensus": "consensus"}
    with (directory / "labels.csv").open(newline="") as file:
        return [
            Sample(
                code=row["label"],
                image_id=row["image_id"],
                path=directory / row["file"],
                confirmed_by=confirmed.get(row["dx_type"], row["dx_type"]),
            )
            for row in csv.DictReader(file)
        ]


Confirmation = Literal["all", "confirmed", "unconfirmed"]


@dataclass(frozen=True)
class OutcomeFilter(HistoryFilter):
    """``HistoryFilter`` and, unless ``all``, whether a result has a confirmed outcome
    (``confirmed_ids``). Only classified results can be confirmed, so ``unconfirmed`` lists
    classified results without one (no errors, nothing pending)."""

    confirmation: Confirmation = "all"
    confirmed_ids: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return super().active or self.confirmation != "all"

    def matches(self, entry: HistoryEntry, rule: TriageRule = DEFAULT_RULE) -> bool:
        confirmed = entry.id in self.confirmed_ids
        if self.confirmation == "confirmed" and not confirmed:
            return False
        if self.confirmation == "unconfirmed" and confirmed:
            return False
        return super().matches(entry, rule)


def outcome_filter(
    filters: HistoryFilter, confirmation: Confirmation, confirmed_ids: frozenset[str]
) -> OutcomeFilter:
    """``filters`` narrowed to confirmed or unconfirmed results."""
    return OutcomeFilter(
        filters.classes, filters.levels, filters.errors_only, confirmation, confirmed_ids
    )
