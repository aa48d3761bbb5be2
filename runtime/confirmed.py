"""Confirmed outcomes in a store: record one beside its result, read a result's history, and
pair each of an owner's results with its latest confirmed outcome.

Append-only. The issue sketched ``outcomes/<owner>/<id>.json``; we store each outcome as its
own immutable object, ``outcomes/<owner>/<id>/<entry>.json`` (``KeyLayout.outcome_key``), so a
correction is a new object, the latest wins, the history is kept, and two clinicians recording
at once never overwrite each other. Entry ids are ``new_id``s, so a listing is newest first.

An entry that cannot be read is reported (``on_unreadable``, a log line by default) and
skipped: the newest readable entry is the result's outcome. Nothing here crashes on one bad
object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from runtime.keys import InvalidKey, KeyLayout, check_id, new_id
from runtime.outcomes import ConfirmedOutcome, InvalidOutcome
from runtime.records import Prediction, UnreadableRecord, read_stored
from runtime.results import DEFAULT_READERS
from runtime.stores import ObjectNotFound, ObjectTooLarge, Store

_log = logging.getLogger(__name__)

MAX_OUTCOME_BYTES: Final = 16 * 1024
"""An outcome is a few hundred bytes; anything far larger is not one and is not read."""
_LIST_PAGE: Final = 1000

OnUnreadable = Callable[[UnreadableRecord], None]
"""Told of each outcome (or record) that cannot be used, and why."""


class OutcomeRefused(ValueError):
    """An outcome that cannot be recorded for this result; the message is for a person."""


def log_unreadable_outcome(problem: UnreadableRecord) -> None:
    """The default report of an unreadable outcome or record: one warning naming its key."""
    _log.warning("unreadable confirmed outcome %s: %s", problem.key, problem.reason)


def record_outcome(store: Store, layout: KeyLayout, outcome: ConfirmedOutcome) -> str:
    """Store ``outcome`` as a new entry beside its result; an earlier one is kept, not replaced.

    Returns:
        The key it was written under.

    Raises:
        OutcomeRefused: the result does not exist, cannot be read, or was not classified
            (there is no prediction to confirm or refute).
    """
    key = layout.prediction_key(outcome.owner, outcome.prediction_id)
    try:
        prediction = read_stored(key, store.get(key))
    except ObjectNotFound:
        raise OutcomeRefused(
            "There is no result with this id among this owner's results, so no outcome can "
            "be recorded for it."
        ) from None
    except UnreadableRecord:
        raise OutcomeRefused(
            "This result's record cannot be read, so no outcome can be recorded for it."
        ) from None
    if prediction.status != "ok":
        raise OutcomeRefused(
            "This image was not classified (its result is an error), so there is no "
            "prediction to compare a confirmed diagnosis with."
        )
    data = outcome.to_json().encode("utf-8")
    while True:
        # put_if_absent: an entry, once written, is never replaced (a clash of fresh ids is
        # next to impossible, and then simply takes another id).
        entry_key = layout.outcome_key(outcome.owner, outcome.prediction_id, new_id())
        if store.put_if_absent(entry_key, data, "application/json"):
            return entry_key


def outcome_history(
    store: Store,
    layout: KeyLayout,
    owner: str,
    prediction_id: str,
    on_unreadable: OnUnreadable = log_unreadable_outcome,
) -> list[ConfirmedOutcome]:
    """Every readable confirmed outcome of one result, newest (the one that counts) first."""
    history = []
    for key in _keys(store, layout.outcomes_prefix(owner, check_id(prediction_id))):
        outcome = _read_outcome(store, layout, key, on_unreadable)
        if outcome is not None:
            history.append(outcome)
    return history


def latest_outcome(
    store: Store,
    layout: KeyLayout,
    owner: str,
    prediction_id: str,
    on_unreadable: OnUnreadable = log_unreadable_outcome,
) -> ConfirmedOutcome | None:
    """The outcome that counts for a result (its newest readable one), or None."""
    keys = _keys(store, layout.outcomes_prefix(owner, check_id(prediction_id)))
    return _newest(store, layout, keys, on_unreadable)


def outcome_keys(
    store: Store,
    layout: KeyLayout,
    owner: str,
    on_unreadable: OnUnreadable = log_unreadable_outcome,
) -> dict[str, list[str]]:
    """Which of an owner's results have confirmed outcomes: each one's entry keys, newest first,
    by prediction id. Listings only (one request per thousand entries), no reads."""
    entries: dict[str, list[str]] = {}
    for key in _keys(store, layout.outcomes_prefix(owner)):
        try:
            _, prediction_id, _ = layout.parse_outcome_key(key)
        except InvalidKey:
            on_unreadable(UnreadableRecord(key, "not an outcome key of this layout"))
            continue
        entries.setdefault(prediction_id, []).append(key)  # listed newest first
    return entries


def latest_outcomes(
    store: Store,
    layout: KeyLayout,
    owner: str,
    on_unreadable: OnUnreadable = log_unreadable_outcome,
    readers: int = DEFAULT_READERS,
    *,
    listed: Mapping[str, Sequence[str]] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, ConfirmedOutcome]:
    """The outcome that counts for each of an owner's confirmed results, by prediction id.

    One listing of the owner's outcomes (none if ``listed``, an ``outcome_keys`` already made,
    is given), then one read per result (more only where the newest entry is unreadable),
    ``readers`` at a time; with ``only``, only those results' outcomes are read (a History
    page's, however many results are confirmed).
    """
    entries = listed if listed is not None else outcome_keys(store, layout, owner, on_unreadable)
    if only is not None:
        wanted = set(only)
        entries = {i: keys for i, keys in entries.items() if i in wanted}

    def newest(keys: Sequence[str]) -> ConfirmedOutcome | None:
        return _newest(store, layout, keys, on_unreadable)

    with ThreadPoolExecutor(max(1, min(readers, len(entries) or 1))) as pool:
        found = dict(zip(entries, pool.map(newest, entries.values()), strict=True))
    return {i: outcome for i, outcome in found.items() if outcome is not None}


def confirmed_results(
    store: Store,
    layout: KeyLayout,
    owner: str,
    on_unreadable: OnUnreadable = log_unreadable_outcome,
    readers: int = DEFAULT_READERS,
) -> list[tuple[Prediction, ConfirmedOutcome]]:
    """Each of an owner's classified results that has a confirmed outcome, with the latest
    one, newest result first.

    A result whose record is gone, unreadable or an error is left out and reported (its
    outcome has nothing to be compared with).
    """
    outcomes = latest_outcomes(store, layout, owner, on_unreadable, readers)

    def prediction(prediction_id: str) -> Prediction | None:
        key = layout.prediction_key(owner, prediction_id)
        try:
            record = read_stored(key, store.get(key))
        except ObjectNotFound:
            on_unreadable(UnreadableRecord(key, "a confirmed outcome without its result"))
            return None
        except UnreadableRecord as problem:
            on_unreadable(problem)
            return None
        if record.status != "ok":
            on_unreadable(UnreadableRecord(key, "a confirmed outcome of an error result"))
            return None
        return record

    ids = sorted(outcomes)  # ids sort newest first
    with ThreadPoolExecutor(max(1, min(readers, len(ids) or 1))) as pool:
        records = list(pool.map(prediction, ids))
    return [
        (record, outcomes[i]) for i, record in zip(ids, records, strict=True) if record is not None
    ]


def _keys(store: Store, prefix: str) -> Iterator[str]:
    cursor: str | None = None
    while True:
        page = store.list_keys(prefix, _LIST_PAGE, cursor)
        yield from page.keys
        cursor = page.next_cursor
        if cursor is None:
            return


def _newest(
    store: Store, layout: KeyLayout, keys: Iterable[str], on_unreadable: OnUnreadable
) -> ConfirmedOutcome | None:
    """The first readable outcome among ``keys`` (listed newest first): the one that counts."""
    for key in keys:
        outcome = _read_outcome(store, layout, key, on_unreadable)
        if outcome is not None:
            return outcome
    return None


def _read_outcome(
    store: Store, layout: KeyLayout, key: str, on_unreadable: OnUnreadable
) -> ConfirmedOutcome | None:
    """The outcome under ``key``, or None (reported) if it is gone, unreadable, or does not
    belong where it is stored."""
    try:
        owner, prediction_id, _ = layout.parse_outcome_key(key)
        outcome = ConfirmedOutcome.from_json(store.get(key, MAX_OUTCOME_BYTES))
    except ObjectNotFound:
        return None  # deleted between the listing and the read
    except (InvalidKey, InvalidOutcome, ObjectTooLarge) as exc:
        on_unreadable(UnreadableRecord(key, str(exc)))
        return None
    if (outcome.owner, outcome.prediction_id) != (owner, prediction_id):
        # Copied or moved by hand: counting it would confirm another result.
        on_unreadable(UnreadableRecord(key, "its owner or result differs from its key"))
        return None
    return outcome
