"""runtime.confirmed: outcomes are appended beside their result, the latest counts, the history
is kept, and one unreadable object is reported, never a crash. On a directory and on S3."""

from __future__ import annotations

import pytest

from runtime.confirmed import (
    OutcomeRefused,
    confirmed_results,
    latest_outcome,
    latest_outcomes,
    outcome_history,
    record_outcome,
)
from runtime.keys import new_id
from runtime.outcomes import ConfirmedOutcome
from runtime.records import ErrorInfo, ModelInfo, Prediction, Timings, UnreadableRecord
from runtime.stores import Store
from tests.confirmed_cases import (
    LAYOUT,
    RECORDED,
    SEEDED,
    confirm,
    scores_with,
    seed,
    store_prediction,
)


def test_a_correction_is_a_new_object_the_latest_counts_and_the_history_is_kept(
    store: Store,
) -> None:
    prediction_id = new_id()
    store_prediction(store, "local", prediction_id, scores_with("nv", 0.7))
    first = confirm(store, "local", prediction_id, "nv", "follow-up")
    second = confirm(store, "local", prediction_id, "mel", "histopathology")

    assert first != second
    assert first.startswith(LAYOUT.outcomes_prefix("local", prediction_id))
    assert ConfirmedOutcome.from_json(store.get(first)).diagnosis == "nv"  # never overwritten
    history = outcome_history(store, LAYOUT, "local", prediction_id)
    assert [(o.diagnosis, o.method) for o in history] == [
        ("mel", "histopathology"),
        ("nv", "follow-up"),
    ]
    latest = latest_outcome(store, LAYOUT, "local", prediction_id)
    assert latest is not None
    assert latest.diagnosis == "mel"
    assert latest_outcome(store, LAYOUT, "local", new_id()) is None


def test_an_outcome_for_a_missing_or_failed_result_is_refused_and_nothing_is_written(
    store: Store,
) -> None:
    missing = new_id()
    with pytest.raises(OutcomeRefused, match="no result with this id"):
        confirm(store, "local", missing, "mel")

    failed = new_id()
    upload_key = LAYOUT.upload_key("local", failed, "jpg")
    record = Prediction.failed(
        id=failed,
        owner="local",
        upload_key=upload_key,
        error=ErrorInfo("not_an_image", "The file is not an image."),
        model=ModelInfo(id="test", revision=None, backend="test"),
        image=None,
        timings_ms=Timings(1, 0, 1),
        created_at=RECORDED,
    )
    store.put(LAYOUT.prediction_key("local", failed), record.to_json().encode(), "application/json")
    with pytest.raises(OutcomeRefused, match="was not classified"):
        confirm(store, "local", failed, "mel")

    # Another owner's result is no result of this owner's.
    theirs = new_id()
    store_prediction(store, "someone-else", theirs, scores_with("nv", 0.7))
    with pytest.raises(OutcomeRefused, match="no result with this id"):
        confirm(store, "local", theirs, "mel")
    assert store.list_keys(LAYOUT.outcomes, 10).keys == ()


def test_confirmed_results_pair_each_result_with_its_latest_outcome_and_report_the_rest(
    store: Store,
) -> None:
    ids = seed(store)
    store_prediction(store, "someone-else", new_id(), scores_with("nv", 0.7))
    problems: list[UnreadableRecord] = []

    pairs = confirmed_results(store, LAYOUT, "local", on_unreadable=problems.append)

    expected = [(i, c.truth) for i, c in zip(ids, SEEDED, strict=False) if c.truth is not None]
    got = [(prediction.id, outcome.diagnosis) for prediction, outcome in pairs]
    assert got == sorted(expected)  # newest result first; the corrected one as corrected
    (problem,) = problems
    assert problem.key.startswith(LAYOUT.outcomes_prefix("local", ids[-1]))
    assert "unreadable outcome" in problem.reason
    assert set(latest_outcomes(store, LAYOUT, "local")) == {i for i, _ in expected}


def test_an_outcome_stored_under_another_result_or_without_its_result_is_left_out(
    store: Store,
) -> None:
    kept, moved_to, deleted = new_id(), new_id(), new_id()
    for prediction_id in (kept, moved_to, deleted):
        store_prediction(store, "local", prediction_id, scores_with("nv", 0.7))
    key = confirm(store, "local", kept, "nv")
    # A copy of kept's outcome dropped under another result must not confirm that result.
    store.put(LAYOUT.outcome_key("local", moved_to, new_id()), store.get(key), "application/json")
    confirm(store, "local", deleted, "mel")
    store.delete(LAYOUT.prediction_key("local", deleted))
    problems: list[UnreadableRecord] = []

    pairs = confirmed_results(store, LAYOUT, "local", on_unreadable=problems.append)

    assert [p.id for p, _ in pairs] == [kept]
    reasons = sorted(p.reason for p in problems)
    assert reasons == [
        "a confirmed outcome without its result",
        "its owner or result differs from its key",
    ]


def test_record_outcome_writes_the_outcome_it_was_given(store: Store) -> None:
    prediction_id = new_id()
    store_prediction(store, "local", prediction_id, scores_with("bcc", 0.7))
    outcome = ConfirmedOutcome.record(
        prediction_id=prediction_id,
        owner="local",
        diagnosis="other",
        method="in-vivo confocal",
        confirmed_on=RECORDED.date(),
        now=RECORDED,
    )
    key = record_outcome(store, LAYOUT, outcome)
    assert LAYOUT.parse_outcome_key(key)[:2] == ("local", prediction_id)
    assert ConfirmedOutcome.from_json(store.get(key)) == outcome
