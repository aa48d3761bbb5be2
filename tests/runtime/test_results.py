"""Results: records read one at a time or several at once come back in the order asked."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.keys import InvalidKey, KeyLayout, new_id
from runtime.records import (
    SCHEMA_VERSION,
    ImageInfo,
    ModelInfo,
    Prediction,
    Timings,
    UnreadableRecord,
)
from runtime.results import HistoryEntry, Results
from runtime.stores import LocalStore

LAYOUT = KeyLayout()
START = datetime(2026, 1, 1, tzinfo=UTC)


def _store_upload(store: LocalStore, prediction_id: str, *, with_record: bool) -> None:
    store.put(LAYOUT.upload_key("local", prediction_id, "jpg"), b"jpeg", "image/jpeg")
    if not with_record:
        return
    record = Prediction.ok(
        id=prediction_id,
        owner="local",
        upload_key=LAYOUT.upload_key("local", prediction_id, "jpg"),
        scores={
            "akiec": 0.1,
            "bcc": 0.1,
            "bkl": 0.1,
            "df": 0.1,
            "mel": 0.4,
            "nv": 0.1,
            "vasc": 0.1,
        },
        model=ModelInfo(id="test", revision=None, backend="test"),
        image=ImageInfo(sha256="0" * 64, bytes=4),
        timings_ms=Timings(1, 1, 2),
        created_at=START,
    )
    store.put(
        LAYOUT.prediction_key("local", prediction_id), record.to_json().encode(), "application/json"
    )


@pytest.mark.parametrize("readers", [1, 4])
def test_records_come_back_in_order_with_none_for_pending(tmp_path: Path, readers: int) -> None:
    store = LocalStore(tmp_path)
    ids = [new_id(START + timedelta(seconds=n)) for n in range(9)]
    for n, prediction_id in enumerate(ids):
        _store_upload(store, prediction_id, with_record=n % 3 != 0)
    results = Results(store, LAYOUT, readers=readers)

    records = results.records("local", ids)

    assert [None if r is None else r.id for r in records] == [
        None if n % 3 == 0 else prediction_id for n, prediction_id in enumerate(ids)
    ]
    page = results.page("local", limit=5)
    assert [entry.id for entry in page.entries] == ids[::-1][:5]  # newest first
    assert [entry.status for entry in page.entries] == [
        "pending" if ids.index(entry.id) % 3 == 0 else "ok" for entry in page.entries
    ]


def test_records_refuse_a_malformed_id(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        Results(LocalStore(tmp_path), LAYOUT, readers=4).records("local", ["../x", "y"])


def _damaged(kind: str, good: bytes) -> bytes:
    data = json.loads(good)
    if kind == "empty":
        return b""
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "newer-schema":
        return json.dumps(data | {"schema_version": SCHEMA_VERSION + 1}).encode()
    return json.dumps(data | {"diagnosis": "mel"}).encode()  # a field it must not have


@pytest.mark.parametrize("kind", ["empty", "truncated", "newer-schema", "extra-field"])
def test_one_unreadable_record_is_one_entry_and_every_other_stays_reachable(
    tmp_path: Path, kind: str
) -> None:
    store = LocalStore(tmp_path)
    ids = [new_id(START + timedelta(seconds=n)) for n in range(7)]
    for prediction_id in ids:
        _store_upload(store, prediction_id, with_record=True)
    broken = ids[3]  # in the middle of the history, and of the second page
    key = LAYOUT.prediction_key("local", broken)
    store.put(key, _damaged(kind, store.get(key)), "application/json")
    reported: list[UnreadableRecord] = []
    results = Results(store, LAYOUT, readers=2, on_unreadable=reported.append)

    for _ in range(2):  # the page is read again, as a rerun of the History page does
        entries: list[HistoryEntry] = []
        cursor = None
        while True:
            page = results.page("local", limit=3, cursor=cursor)
            entries += page.entries
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [e.id for e in entries] == ids[::-1]
        assert [e.status for e in entries] == ["ok"] * 3 + ["unreadable"] + ["ok"] * 3
        assert entries[3].prediction is None

    assert [problem.key for problem in reported] == [key]  # reported once, not per page
    with pytest.raises(UnreadableRecord, match=broken):
        results.get("local", broken)


def test_an_unreadable_record_is_logged_by_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalStore(tmp_path)
    prediction_id = new_id(START)
    _store_upload(store, prediction_id, with_record=False)
    store.put(LAYOUT.prediction_key("local", prediction_id), b"", "application/json")
    with caplog.at_level(logging.WARNING, logger="runtime.results"):
        Results(store, LAYOUT).page("local")
    (line,) = caplog.messages
    assert line.startswith(f"unreadable record predictions/local/{prediction_id}.json: ")
