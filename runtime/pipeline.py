"""The pipeline: one stored upload in, one prediction record (and a thumbnail) stored out."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Final

from runtime.cases import CaseDetails, InvalidCase, reference_digest
from runtime.classifiers import Classifier
from runtime.formats import content_type
from runtime.images import (
    ImageLimits,
    InvalidImage,
    PreparedImage,
    prepare,
    sniff_format,
    too_large,
)
from runtime.keys import KeyLayout, Upload
from runtime.records import ErrorInfo, ImageInfo, Prediction, Timings, read_stored
from runtime.stores import ObjectNotFound, ObjectTooLarge, Store

Clock = Callable[[], datetime]

UPLOAD_DELETED: Final = "The uploaded file was deleted before it could be classified."
_log = logging.getLogger(__name__)
_MAX_CASE_BYTES: Final = 8192  # a reference and a 500-character note, with room to spare
# Thumbnails are written while the model runs: a durable write (fsyncs locally, a PUT on S3) then
# costs no time of its own. Threads start as needed; a handful covers every worker's one write.
_WRITERS: Final = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dermascan-thumbnail")


class ConcurrentWrite(RuntimeError):
    """Another worker is writing this upload's record and it cannot be read yet (S3's 409).

    Nothing is lost: retrying later finds that record, or writes this one if the other write
    failed.
    """


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def new_upload(data: bytes, owner: str, *, layout: KeyLayout, limits: ImageLimits) -> Upload:
    """Name a new upload. Files that are not images are named too: their record says why.

    Raises:
        InvalidImage: the file is empty or over the byte limit; it should not be stored.
    """
    if not data:
        raise InvalidImage("empty", "The file is empty.")
    if len(data) > limits.max_bytes:
        raise too_large(len(data), limits.max_bytes)
    return layout.new_upload(owner, sniff_format(data))


def store_upload(
    store: Store,
    data: bytes,
    owner: str,
    case: CaseDetails | None = None,
    *,
    layout: KeyLayout,
    limits: ImageLimits,
) -> Upload:
    """Name and store a new upload, with the case details given with it.

    The case details (``cases/``) and the reference's index entry (``references/``) are written
    before the upload itself: the upload's arrival is what starts classification, and the
    pipeline copies the case details into the record as it writes it. Written the other way
    round, a fast worker could record the result without them.

    Raises:
        InvalidImage: the file is empty or over the byte limit (nothing is stored).
    """
    upload = new_upload(data, owner, layout=layout, limits=limits)
    if case is not None and not case.empty:
        details = case.to_json().encode("utf-8")
        store.put(layout.case_key(owner, upload.id), details, "application/json")
        if case.reference is not None:
            digest = reference_digest(case.reference)
            marker = layout.reference_key(owner, digest, upload.id)
            store.put(marker, b"", "application/octet-stream")
    store.put(upload.key, data, content_type(upload.extension))
    return upload


def classify_image(
    data: bytes,
    upload: Upload,
    *,
    classifier: Classifier,
    limits: ImageLimits,
    clock: Clock = utc_now,
    started: float | None = None,
    on_prepared: Callable[[PreparedImage], None] | None = None,
) -> Prediction:
    """Validate, prepare and classify one image; build its record. Stores nothing.

    A bad image gives an ``error`` record; every other failure (a transient endpoint error, a
    misconfigured model) raises, so no record ever blames the image for them or carries their
    text.

    Args:
        data: the uploaded bytes.
        upload: whose it is, its id and its key, for the record.
        classifier: the model to ask.
        limits: what images are accepted.
        clock: the time source for ``created_at``.
        started: ``time.perf_counter()`` when the work began (default: now), for the timings.
        on_prepared: called with the model input before classification (to store a thumbnail).
    """
    start = time.perf_counter() if started is None else started
    try:
        prepared = prepare(data, limits)
    except InvalidImage as exc:
        return _failed(upload, classifier, exc.code, str(exc), _image_info(data), start, clock)
    preprocessed = time.perf_counter()
    if on_prepared is not None:
        on_prepared(prepared)
    info = ImageInfo(
        sha256=prepared.sha256,
        bytes=prepared.bytes,
        width=prepared.width,
        height=prepared.height,
        format=prepared.format,
    )
    inference_start = time.perf_counter()
    scores = classifier.classify(prepared.jpeg)
    done = time.perf_counter()
    return Prediction.ok(
        id=upload.id,
        owner=upload.owner,
        upload_key=upload.key,
        scores=scores,
        model=classifier.model,
        image=info,
        timings_ms=Timings(
            preprocess=_ms(preprocessed - start),
            inference=_ms(done - inference_start),
            total=_ms(done - start),
        ),
        created_at=clock(),
    )


def process_upload(
    key: str,
    *,
    store: Store,
    classifier: Classifier,
    layout: KeyLayout | None = None,
    limits: ImageLimits | None = None,
    clock: Clock = utc_now,
    uploaded_at: datetime | None = None,
    on_new: Callable[[Prediction], None] | None = None,
) -> Prediction:
    """Classify the upload stored under ``key`` and store its record, at most once.

    Delivery is at least once, so this is idempotent: an upload whose record exists is not
    classified again, and the record is written with put-if-absent so two concurrent runs
    cannot both write one. The model input is kept as a thumbnail for the history view, and the
    case details given with the upload (its reference and note) go into the record.

    A deletion wins, as far as a function that may not delete can make it: an upload deleted
    before it is read gets no record; the upload is looked for again just before the thumbnail
    and just before the record are written, and neither is written once it is gone. What a
    deletion can still miss is a write already under way at its check (one PUT): the app's
    deletion looks again for it (``deletion.unfinished``).

    Args:
        key: the upload's key, ``uploads/<owner>/<id>.<ext>`` (already URL-decoded).
        store: where the upload is and the results go.
        classifier: the model to ask.
        layout: the key layout (default prefixes if None).
        limits: what images are accepted (the product's defaults if None).
        clock: the time source for ``created_at``.
        uploaded_at: when the upload was stored (its notification's time); needed only for
            uploads named by other tools, whose record id derives from it.
        on_new: called with the record only if this call wrote it (for metrics).

    Returns:
        The upload's record: the one just written, or the one already there; for an upload
        deleted before or while it was classified, the record it would have had, not stored.

    Raises:
        InvalidKey: ``key`` is not an upload key of ``layout`` (see ``KeyLayout.upload_for``).
        ClassifierError: a transient or configuration failure; nothing was written, so a
            retry starts afresh.
        ConcurrentWrite: another worker's record write is in flight; retry later.
        UnreadableRecord: the upload's record exists but cannot be read (damaged, or written by
            a newer dermascan). A permanent fault of that upload: retrying cannot help, and the
            record is not overwritten (it may hold what a newer version meant).
    """
    layout = layout or KeyLayout()
    limits = limits or ImageLimits()
    upload = layout.upload_for(key, uploaded_at)
    prediction_key = layout.prediction_key(upload.owner, upload.id)
    existing = _existing(store, prediction_key)
    if existing is not None:
        return existing

    started = time.perf_counter()
    try:
        data = store.get(key, max_bytes=limits.max_bytes)
    except ObjectTooLarge as exc:
        refusal = too_large(exc.size, exc.limit)
        record = _failed(upload, classifier, refusal.code, str(refusal), None, started, clock)
    except ObjectNotFound:
        # Deleted before it was read (by its owner, or by the retention rule): a record
        # written now would outlive the deletion, so none is.
        _log.info("upload %s was deleted before it was classified; nothing is stored", key)
        return _failed(upload, classifier, "upload_missing", UPLOAD_DELETED, None, started, clock)
    else:
        thumbnail: list[Future[None]] = []

        def keep_thumbnail(prepared: PreparedImage) -> None:
            thumbnail.append(_WRITERS.submit(_keep_thumbnail, store, layout, upload, prepared))

        try:
            record = classify_image(
                data,
                upload,
                classifier=classifier,
                limits=limits,
                clock=clock,
                started=started,
                on_prepared=keep_thumbnail,
            )
        finally:
            for written in thumbnail:  # stored (or its error raised) before the record is
                written.result()

    case = _case_details(store, layout, upload)
    if not case.empty:
        record = dataclasses.replace(record, reference=case.reference, note=case.note)
    if not store.exists(key):
        # Deleted while it was classified. The function may not delete (its role only writes
        # results), so it writes nothing more; a thumbnail already under way is the app's
        # deletion's to find (``deletion.unfinished`` says to look again).
        _log.info("upload %s was deleted while it was classified; no record is stored", key)
        return record
    if store.put_if_absent(prediction_key, record.to_json().encode("utf-8"), "application/json"):
        if on_new is not None:
            on_new(record)
        return record
    # Another worker finished the same upload first: theirs is the record.
    winner = _existing(store, prediction_key)
    if winner is None:
        # Its write is still in flight (or failed): returning this unstored record would let
        # the caller acknowledge an upload that may never get one.
        raise ConcurrentWrite(f"{prediction_key} is being written by another worker")
    return winner


def _keep_thumbnail(
    store: Store, layout: KeyLayout, upload: Upload, prepared: PreparedImage
) -> None:
    """Store the model input as the upload's thumbnail, unless the upload was deleted
    meanwhile (looked for just before the write, as the record is)."""
    if store.exists(upload.key):
        # Derived: made again from the upload if a crash loses it, so it needs no fsync.
        key = layout.thumbnail_key(upload.owner, upload.id)
        store.put(key, prepared.jpeg, "image/jpeg", derived=True)


def _case_details(store: Store, layout: KeyLayout, upload: Upload) -> CaseDetails:
    """What the uploader said about the case (stored before the upload), or nothing.

    Details that cannot be read do not hold up the result: it is recorded without them, and the
    log says why.
    """
    key = layout.case_key(upload.owner, upload.id)
    try:
        return CaseDetails.from_json(store.get(key, max_bytes=_MAX_CASE_BYTES))
    except ObjectNotFound:
        return CaseDetails()
    except (InvalidCase, ObjectTooLarge) as exc:
        _log.warning("case details %s ignored: %s", key, exc)
        return CaseDetails()


def _existing(store: Store, prediction_key: str) -> Prediction | None:
    try:
        return read_stored(prediction_key, store.get(prediction_key))
    except ObjectNotFound:
        return None


def _failed(
    upload: Upload,
    classifier: Classifier,
    code: str,
    message: str,
    image: ImageInfo | None,
    started: float,
    clock: Clock,
) -> Prediction:
    elapsed = _ms(time.perf_counter() - started)
    return Prediction.failed(
        id=upload.id,
        owner=upload.owner,
        upload_key=upload.key,
        error=ErrorInfo(code=code, message=message),
        model=classifier.model,
        image=image,
        timings_ms=Timings(preprocess=elapsed, inference=0.0, total=elapsed),
        created_at=clock(),
    )


def _image_info(data: bytes) -> ImageInfo:
    return ImageInfo(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
