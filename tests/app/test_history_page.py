"""The History page as a user works it: 50 a page, paging, the filters as the page applies them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.keys import KeyLayout, new_id
from runtime.labels import CLASSES
from runtime.records import ImageInfo, ModelInfo, Prediction, Timings
from runtime.stores import LocalStore
from runtime.triage import Level
from tests.app.conftest import new_app
from tests.app.test_local_app import opened_ids, texts

LAYOUT = KeyLayout()
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NEVUS = dict.fromkeys(CLASSES, 0.02) | {"nv": 0.88}  # no malignant signal
NEVUS_OVER_MELANOMA = dict.fromkeys(CLASSES, 0.002) | {"nv": 0.605, "mel": 0.385}  # refer


def seed(data_dir: Path, count: int, refer_every: int = 10) -> list[str]:
    """``count`` results, oldest first, every ``refer_every``-th a referral; their ids."""
    store = LocalStore(data_dir)
    ids = []
    for n in range(count):
        prediction_id = new_id(START + timedelta(minutes=n))
        key = LAYOUT.upload_key("local", prediction_id, "jpg")
        store.put(key, b"\xff\xd8\xff", "image/jpeg")
        record = Prediction.ok(
            id=prediction_id,
            owner="local",
            upload_key=key,
            scores=NEVUS_OVER_MELANOMA if n % refer_every == 0 else NEVUS,
            model=ModelInfo(id="org/model", revision="0" * 40, backend="transformers"),
            image=ImageInfo(sha256="0" * 64, bytes=3),
            timings_ms=Timings(1.0, 2.0, 3.0),
            created_at=START + timedelta(minutes=n),
        )
        store.put(LAYOUT.prediction_key("local", prediction_id), record.to_json().encode(), "x")
        ids.append(prediction_id)
    return ids


def test_fifty_a_page_newest_first_and_the_position_is_said(local_env: Path) -> None:
    ids = seed(local_env, 60)
    at = new_app()
    at.switch_page("app_pages/history.py").run()
    assert not at.exception, at.exception
    assert opened_ids(at) == ids[::-1][:50]
    assert "Results 1 to 50, newest first" in texts(at)

    at.button(key="history_older").click().run()
    assert opened_ids(at) == ids[::-1][50:]
    assert "Results 51 to 60, newest first" in texts(at)
    assert not [b for b in at.button if b.key == "history_older"]

    at.button(key="history_newer").click().run()
    assert opened_ids(at) == ids[::-1][:50]


def test_the_refer_filter_finds_every_referral_whatever_its_top_class(local_env: Path) -> None:
    ids = seed(local_env, 30)
    referrals = [i for n, i in enumerate(ids) if n % 10 == 0][::-1]
    at = new_app()
    at.switch_page("app_pages/history.py").run()
    at.multiselect(key="history_levels").select(Level.REFER).run()
    assert not at.exception, at.exception
    assert opened_ids(at) == referrals  # nevus on top, melanoma at 38.5 %: all three found
    assert "Matching results 1 to 3" in texts(at)
    said = texts(at)
    assert said.count("**Refer** · malignant classes **39%**") == 3

    at.multiselect(key="history_levels").unselect(Level.REFER).run()
    at.multiselect(key="history_classes").select("mel").run()
    assert opened_ids(at) == []  # no result has melanoma on top
    assert "No matching results among the 30 looked at." in texts(at)
