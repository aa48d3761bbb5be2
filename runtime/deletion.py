"""Deleting for privacy: one result and everything derived from it, or everything of one owner.

Both work through the ``Store`` API alone, so the same code deletes from a data directory and
from the stack's versioned bucket (where ``S3Store.delete`` removes every version of a key and
its delete markers, not just the visible object).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Final

from runtime.cases import CaseDetails, InvalidCase, reference_digest
from runtime.keys import InvalidKey, KeyLayout, check_id, check_owner
from runtime.records import UnreadableRecord, read_stored
from runtime.stores import ObjectNotFound, ObjectTooLarge, Store

_log = logging.getLogger(__name__)
_PAGE: Final = 500
SETTLE_SECONDS: Final = 5.0
"""How long after a deletion that found work in flight (``unfinished``) it looks again: far
longer than a write takes that was already under way at the function's check (one PUT, two
for an explanation), unless S3 is failing and retrying."""
SETTLE_PASSES: Final = 3
"""At most this many more looks, each while the previous one still found work in flight (on
a shared history, another visitor may upload during a deletion of everything)."""
_MAX_CASE_BYTES: Final = 8192


def result_keys(store: Store, layout: KeyLayout, owner: str, prediction_id: str) -> list[str]:
    """Every key one result can have, whether or not it exists, in the order they are deleted.

    The upload comes first: once it is gone, nothing can classify it again (a restart's
    ``resume_pending`` lists uploads) and History no longer lists it. The case details and the
    reference's index entry come last, so a deletion that stops half-way can be run again and
    still finds which reference the result was filed under.
    """
    check_owner(owner)
    check_id(prediction_id)
    uploads = store.list_keys(f"{layout.owner_uploads(owner)}{prediction_id}.", 10).keys
    outcomes = _all_keys(store, layout.outcomes_prefix(owner, prediction_id))
    keys = [
        *uploads,
        layout.prediction_key(owner, prediction_id),
        layout.thumbnail_key(owner, prediction_id),
        *layout.explanation_keys(owner, prediction_id),
        layout.explain_request_key(owner, prediction_id),
        *outcomes,
        layout.case_key(owner, prediction_id),
    ]
    reference = _reference(store, layout, owner, prediction_id)
    if reference is not None:
        keys.append(layout.reference_key(owner, reference_digest(reference), prediction_id))
    return keys


def delete_result(store: Store, layout: KeyLayout, owner: str, prediction_id: str) -> list[str]:
    """Delete one result of ``owner``: the upload, its 224x224 copy, the record, the case
    details and their reference index entry, the explanation (map and parameters) and its
    request, and every confirmed outcome.

    Returns:
        The keys that held something and were deleted (empty: there was no such result).

    Raises:
        InvalidKey: ``owner`` or ``prediction_id`` is malformed.
    """
    deleted = []
    for key in result_keys(store, layout, owner, prediction_id):
        # Only keys that exist: on a versioned bucket, deleting a missing key would leave a
        # delete marker behind, a new object where there was none.
        if store.exists(key):
            store.delete(key)
            deleted.append(key)
    return deleted


def delete_owner(store: Store, layout: KeyLayout, owner: str) -> list[str]:
    """Delete everything of ``owner``, under every prefix of the layout; nobody else's.

    The prefixes go in the layout's order, uploads first, for the reason ``result_keys`` gives.

    Returns:
        The keys deleted.

    Raises:
        InvalidKey: ``owner`` is malformed.
    """
    deleted = []
    for prefix in layout.owner_prefixes(owner):
        for key in _all_keys(store, prefix):
            store.delete(key)
            deleted.append(key)
    return deleted


def unfinished(deleted: Collection[str], layout: KeyLayout) -> bool:
    """Whether the deleted keys show work that another process may still be finishing, and so
    a deletion that must look again once it has: an upload deleted without its record (being
    classified) or an explanation request without its explanation (being explained).

    The Lambda function cannot be waited for, and its role may write results but not delete
    them. It looks for the upload (for an explanation, the record) again just before each
    write and writes nothing once it is gone, so what can still land after a deletion is a
    write already under way at that check: the model input, the record or the explanation.
    Another pass a few seconds later (``SETTLE_SECONDS``) finds and deletes it.
    """
    keys = set(deleted)
    for key in keys:
        if key.startswith(layout.uploads):
            try:
                upload = layout.parse_upload_key(key)
            except InvalidKey:
                return True  # named by another tool: its record's id is not in the key
            if layout.prediction_key(upload.owner, upload.id) not in keys:
                return True
        elif key.startswith(layout.explain_requests):
            try:
                owner, prediction_id = layout.parse_explain_request_key(key)
            except InvalidKey:
                continue  # never answered: the function ignores what it cannot parse
            # Both: the map and its parameters land one after the other, and a deletion that
            # checked the map a moment before it landed deleted only the parameters.
            if not keys.issuperset(layout.explanation_keys(owner, prediction_id)):
                return True
    return False


def _all_keys(store: Store, prefix: str) -> list[str]:
    keys: list[str] = []
    cursor: str | None = None
    while True:
        page = store.list_keys(prefix, _PAGE, cursor)
        keys.extend(page.keys)
        if page.next_cursor is None:
            return keys
        cursor = page.next_cursor


def _reference(store: Store, layout: KeyLayout, owner: str, prediction_id: str) -> str | None:
    """The reference a result was filed under: from its case details, else from its record."""
    case_key = layout.case_key(owner, prediction_id)
    try:
        reference = CaseDetails.from_json(store.get(case_key, max_bytes=_MAX_CASE_BYTES)).reference
        if reference is not None:
            return reference
    except ObjectNotFound:
        pass
    except (InvalidCase, ObjectTooLarge) as exc:
        _log.warning("case details %s unreadable while deleting: %s", case_key, exc)
    record_key = layout.prediction_key(owner, prediction_id)
    try:
        return read_stored(record_key, store.get(record_key)).reference
    except (ObjectNotFound, UnreadableRecord):
        return None
