"""Results: records read one at a time or several at once come back in the order asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.keys import InvalidKey, KeyLayout, new_id
from runtime.records import ImageInfo, ModelInfo, Prediction, Timings
from runtime.results import Results
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
