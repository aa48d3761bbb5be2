"""A lesion over time: every result filed under one case reference, oldest first, and how each
score changed since the result before it (change is the strongest warning sign).

The results are found through the reference index (``references/<owner>/<digest>/<id>``): only
that reference's entries and records are read, never the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime.cases import reference_digest
from runtime.keys import InvalidKey, check_id
from runtime.labels import CLASSES
from runtime.records import Prediction, UnreadableRecord
from runtime.results import Results
from runtime.triage import Triage, TriageRule, triage

TIMELINE_LIMIT: Final = 100
"""At most this many results of one reference are read (the newest of them)."""


@dataclass(frozen=True)
class TimelineEntry:
    """One result in a lesion's timeline."""

    prediction: Prediction
    triage: Triage | None
    """None for a file that could not be classified (its record holds no scores)."""
    changes: dict[str, float] | None
    """Each class's change since the previous classified result, in percentage points; None
    for the first classified result or one without scores."""
    malignant_change: float | None
    """The malignant total's change since the previous classified result, in points."""


def results_for_reference(
    results: Results, owner: str, reference: str, limit: int = TIMELINE_LIMIT
) -> list[Prediction]:
    """The records filed under ``reference`` (matched exactly, ignoring case), oldest first.

    Reads the reference's index entries (the newest ``limit``) and their records only.
    Uploads still being classified, and records that cannot be read, are left out.

    Raises:
        InvalidCase: ``reference`` is not a valid reference.
        InvalidKey: ``owner`` is malformed.
    """
    digest = reference_digest(reference)
    prefix = results.layout.reference_prefix(owner, digest)
    ids = []
    for key in results.store.list_keys(prefix, limit).keys:
        try:
            ids.append(check_id(key.removeprefix(prefix)))
        except InvalidKey:
            continue  # not an index entry this layout wrote
    found = []
    for prediction_id in ids:
        try:
            record = results.get(owner, prediction_id)
        except UnreadableRecord:
            continue
        # The index could outlive a record's details (a failed deletion half-way): the record
        # itself must say it belongs to this reference.
        if record is None or record.reference is None:
            continue
        if reference_digest(record.reference) == digest:
            found.append(record)
    # Ids sort newest first; a timeline reads oldest to newest.
    return sorted(found, key=lambda record: record.id, reverse=True)


def timeline(records: list[Prediction], rule: TriageRule) -> list[TimelineEntry]:
    """The records (oldest first) with each score's change since the previous classified one."""
    entries = []
    previous: Prediction | None = None
    previous_total = 0.0
    for record in records:
        if record.status != "ok" or record.top is None:
            entries.append(TimelineEntry(record, None, None, None))
            continue
        verdict = triage(record.scores, rule)
        if previous is None:
            entries.append(TimelineEntry(record, verdict, None, None))
        else:
            changes = {
                code: (record.scores[code] - previous.scores[code]) * 100 for code in CLASSES
            }
            malignant = (verdict.malignant_total - previous_total) * 100
            entries.append(TimelineEntry(record, verdict, changes, malignant))
        previous, previous_total = record, verdict.malignant_total
    return entries
