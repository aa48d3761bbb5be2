"""The app's one door to data: submit uploads, wait for records, read results and history.

One ``Backend`` over either runtime pipeline: ``local_backend`` (the default: the model on this
machine, data in a directory) or ``aws_backend`` (``DERMASCAN_BACKEND=aws``: uploads go to the
stack's bucket and the Lambda function writes the records). Pages never see which one runs.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from runtime.images import ImageLimits
from runtime.labels import CLASSES, MALIGNANT
from runtime.local import LocalPipeline
from runtime.records import Prediction, owner_for_identity
from runtime.remote import DEFAULT_TIMEOUT, RemotePipeline
from runtime.results import HistoryEntry, HistoryPage, Results
from runtime.stores import S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCAL_OWNER: Final = "local"
SHARED_OWNER: Final = "shared"
DEFAULT_RESULT_TIMEOUT: Final = DEFAULT_TIMEOUT
# At most this many records are read to fill one filtered history page; a rare class in a long
# history then costs a few bounded pages, never a scan of everything.
HISTORY_SCAN_LIMIT: Final = 500


class BackendConfigError(ValueError):
    """The environment does not describe a usable backend; the message says what to set."""


class Pipeline(Protocol):
    """What both runtime pipelines offer: ``LocalPipeline`` and ``RemotePipeline``."""

    results: Results
    limits: ImageLimits

    def submit(self, data: bytes, owner: str) -> str: ...

    def wait(self, prediction_id: str, owner: str, timeout: float | None = None) -> Prediction: ...


class Backend:
    """What the pages can ask for, on either pipeline. Every call is scoped to one owner."""

    def __init__(self, pipeline: Pipeline, label: str, default_owner: str) -> None:
        """Args:
        pipeline: where uploads go and records come from.
        label: where data lives, for the page header (``local``, ``AWS prod``).
        default_owner: the owner of everything when nobody signs in.
        """
        self.pipeline = pipeline
        self.results = pipeline.results
        self.label = label
        self.default_owner = default_owner

    @property
    def limits(self) -> ImageLimits:
        """What uploads are accepted."""
        return self.pipeline.limits

    def submit(self, owner: str, data: bytes, filename: str) -> str:
        """Store an upload for classification and return its id.

        ``filename`` is never stored or used in a key.

        Raises:
            InvalidImage: empty or over the byte limit (nothing is stored).
        """
        return self.pipeline.submit(data, owner)

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

    def history_page(self, owner: str, limit: int, cursor: str | None) -> HistoryPage:
        """One unfiltered page of history, newest first."""
        return self.results.page(owner, limit, cursor)

    def thumbnail(self, owner: str, prediction_id: str) -> bytes | None:
        """The 224x224 model input, or None."""
        return self.results.thumbnail(owner, prediction_id)

    def image(self, owner: str, prediction_id: str) -> bytes | None:
        """The uploaded file, or None."""
        return self.results.upload(owner, prediction_id)


def local_backend(pipeline: LocalPipeline) -> Backend:
    """The embedded default: the model on this machine, data in a directory."""
    return Backend(pipeline, label="local", default_owner=LOCAL_OWNER)


def aws_backend(pipeline: RemotePipeline, stack: str = "") -> Backend:
    """The deployed stack: uploads to its bucket, records from its Lambda function."""
    return Backend(pipeline, label=f"AWS {stack}".strip(), default_owner=SHARED_OWNER)


@dataclass(frozen=True)
class HistoryFilter:
    """Which history entries to show. With nothing set, all of them, pending ones included."""

    classes: frozenset[str] = frozenset()
    malignant_only: bool = False
    errors_only: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.classes) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown classes in filter: {sorted(unknown)}")

    @property
    def active(self) -> bool:
        return bool(self.classes) or self.malignant_only or self.errors_only

    def matches(self, entry: HistoryEntry) -> bool:
        if not self.active:
            return True
        record = entry.prediction
        if self.errors_only:
            return entry.status == "error"
        if record is None or record.top is None:
            return False
        if self.malignant_only and record.top not in MALIGNANT:
            return False
        return not self.classes or record.top in self.classes


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
) -> FilteredPage:
    """Up to ``limit`` matching entries, newest first, reading at most ``scan_limit`` records.

    Without filters this is one page. With filters it reads further pages until the page is
    full or ``scan_limit`` entries were looked at; ``next_cursor`` then continues the scan.
    """
    filters = filters or HistoryFilter()
    matched: list[HistoryEntry] = []
    scanned = 0
    while True:
        size = min(limit - len(matched), scan_limit - scanned)
        page = backend.history_page(owner, size, cursor)
        scanned += len(page.entries)
        matched.extend(entry for entry in page.entries if filters.matches(entry))
        cursor = page.next_cursor
        if cursor is None or len(matched) >= limit or scanned >= scan_limit:
            return FilteredPage(entries=tuple(matched), next_cursor=cursor, scanned=scanned)


def backend_from_env(env: Mapping[str, str] | None = None) -> Backend:
    """The backend the environment asks for.

    ``DERMASCAN_BACKEND``: ``local`` (default) or ``aws``. Local reads ``DERMASCAN_DATA_DIR``,
    ``DERMASCAN_MODEL`` and ``DERMASCAN_WORKERS`` (see ``LocalPipeline.from_env``). AWS reads
    ``DERMASCAN_BUCKET`` and ``DERMASCAN_STACK`` (the stack's ``appEnv`` output sets both) and
    the usual AWS credentials and region. ``DERMASCAN_RESULT_TIMEOUT`` (seconds) applies to both.

    Raises:
        BackendConfigError: saying which variable to set.
    """
    env = os.environ if env is None else env
    kind = env.get("DERMASCAN_BACKEND", "local").strip().lower() or "local"
    timeout = _timeout(env)
    if kind == "local":
        return local_backend(LocalPipeline.from_env(env, timeout=timeout))
    if kind == "aws":
        bucket = env.get("DERMASCAN_BUCKET", "").strip()
        if not bucket:
            raise BackendConfigError(
                "DERMASCAN_BACKEND=aws needs DERMASCAN_BUCKET: run "
                "`export $(pulumi stack output appEnv)` in the stack's directory."
            )
        pipeline = RemotePipeline(S3Store(_s3_client(), bucket), timeout=timeout)
        return aws_backend(pipeline, stack=env.get("DERMASCAN_STACK", ""))
    raise BackendConfigError(f"DERMASCAN_BACKEND must be 'local' or 'aws', not {kind!r}")


def _timeout(env: Mapping[str, str]) -> float:
    raw = env.get("DERMASCAN_RESULT_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_RESULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise BackendConfigError(f"DERMASCAN_RESULT_TIMEOUT must be seconds, not {raw!r}") from None
    if value <= 0:
        raise BackendConfigError("DERMASCAN_RESULT_TIMEOUT must be positive")
    return value


def _s3_client() -> S3Client:
    import boto3

    return boto3.client("s3")


# --- Streamlit glue: the caches and the session's owner ---------------------------------------

SAMPLES_DIR: Final = Path(__file__).resolve().parents[1] / "samples" / "ham10000"


@dataclass(frozen=True)
class Sample:
    """A bundled HAM10000 image with its confirmed diagnosis."""

    code: str
    image_id: str
    path: Path
    confirmed_by: str


@st.cache_resource(show_spinner="Starting dermascan...")
def shared_backend() -> Backend:
    """The process-wide backend: the model and the clients are made once, for every session."""
    backend = backend_from_env()
    if isinstance(backend.pipeline, LocalPipeline):
        backend.pipeline.resume_pending()  # uploads a previous run left unclassified
    return backend


@st.cache_data(ttl=3600, max_entries=1)
def samples() -> list[Sample]:
    """The bundled samples, one per class (the same for every user, so cached)."""
    confirmed = {"histo": "histopathology", "follow_up": "follow-up", "consensus": "consensus"}
    with (SAMPLES_DIR / "labels.csv").open(newline="") as file:
        return [
            Sample(
                code=row["label"],
                image_id=row["image_id"],
                path=SAMPLES_DIR / row["file"],
                confirmed_by=confirmed.get(row["dx_type"], row["dx_type"]),
            )
            for row in csv.DictReader(file)
        ]


def sign_in_configured() -> bool:
    """Whether ``[auth]`` is set in Streamlit's secrets, so users must sign in."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return False


def current_owner(backend: Backend) -> str | None:
    """Whose data this session sees: the signed-in user's opaque owner, or the shared default.

    Returns None when sign-in is configured and nobody is signed in yet.
    """
    if not sign_in_configured():
        return backend.default_owner
    if not st.user.is_logged_in:
        return None
    subject = st.user.get("sub") or st.user.get("email")
    if not subject:
        return None
    return owner_for_identity(str(subject))


def active_session() -> tuple[Backend, str]:
    """The backend and this session's owner, for a page. Stops the page if nobody signed in."""
    backend = shared_backend()
    owner = current_owner(backend)
    if owner is None:
        st.stop()
    return backend, owner
