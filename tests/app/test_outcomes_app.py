"""Confirmed outcomes in the app (AppTest, local backend): the form on a result records and
corrects, History filters by confirmation and says whether the model agreed, and the
Performance page shows the numbers `dermascan evaluate --confirmed` prints."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from runtime.cli import EXIT_OK, main
from runtime.confirmed import outcome_history
from runtime.keys import KeyLayout, new_id
from runtime.stores import LocalStore
from tests.app.conftest import new_app
from tests.app.test_local_app import classify_upload, open_result, opened_ids, texts
from tests.confirmed_cases import SEEDED, START, confirm, scores_with, seed, store_prediction


def read(at: AppTest) -> str:
    """The page's text without Markdown's bold markers."""
    return texts(at).replace("**", "")


def record(page: AppTest, diagnosis: str | None, method: str | None, when: date) -> AppTest:
    page.selectbox(key="outcome_diagnosis").set_value(diagnosis)
    page.selectbox(key="outcome_method").set_value(method)
    page.date_input(key="outcome_date").set_value(when)
    page.button(key="outcome_submit").click().run()
    assert not page.exception, page.exception
    return page


def test_an_outcome_is_recorded_and_a_correction_shows_the_latest_and_the_history(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = classify_upload(new_app(), "a.jpg", sample_paths["bcc"].read_bytes())
    prediction_id = at.session_state["last_id"]
    page = open_result(prediction_id)
    assert "No confirmed outcome has been recorded for this result yet." in texts(page)
    top = LocalStore(local_env).get(KeyLayout().prediction_key("local", prediction_id))
    top_class = json.loads(top)["top"]
    other_class = "df" if top_class != "df" else "vasc"
    confirmed_on = datetime.now(UTC).date() - timedelta(days=3)

    record(page, top_class, "histopathology", confirmed_on)
    said = read(page)
    assert "Confirmed diagnosis: " in said
    assert f"({top_class}), by histopathology on {confirmed_on.isoformat()}" in said
    assert "The model agreed: its top class was the confirmed diagnosis." in said
    assert "Earlier outcomes" not in said

    record(page, other_class, "follow-up", confirmed_on)  # a correction: recorded again
    said = read(page)
    latest = said.split("Confirmed diagnosis: ")[1]
    assert f"({other_class}), by follow-up" in latest.splitlines()[0]
    assert "The model did not agree: its top class was" in said
    earlier = said.split("Earlier outcomes, since corrected:")[1]
    assert f"({top_class}), by histopathology on {confirmed_on.isoformat()}" in earlier
    stored = outcome_history(LocalStore(local_env), KeyLayout(), "local", prediction_id)
    assert [o.diagnosis for o in stored] == [other_class, top_class]


def test_a_future_date_or_a_missing_choice_is_refused_with_a_sentence(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = classify_upload(new_app(), "a.jpg", sample_paths["nv"].read_bytes())
    page = open_result(at.session_state["last_id"])
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)

    record(page, "mel", "histopathology", tomorrow)
    assert "The date of confirmation cannot be in the future" in texts(page)
    record(page, None, "histopathology", tomorrow - timedelta(days=2))
    assert "Choose the confirmed diagnosis and how it was confirmed" in texts(page)
    assert "No confirmed outcome has been recorded for this result yet." in texts(page)
    assert LocalStore(local_env).list_keys("outcomes/", 10).keys == ()


def history(confirmation: str) -> AppTest:
    at = new_app()
    at.switch_page("app_pages/history.py").run()
    at.selectbox(key="history_confirmation").set_value(confirmation).run()
    assert not at.exception, at.exception
    return at


def test_history_filters_by_confirmation_and_says_whether_the_model_agreed(
    local_env: Path,
) -> None:
    ids = seed(LocalStore(local_env))
    confirmed = {i for i, case in zip(ids, SEEDED, strict=False) if case.truth is not None}

    shown = history("confirmed")
    assert opened_ids(shown) == sorted(confirmed | {ids[-1]})  # newest first
    said = read(shown)
    # Agreeing: cases 1, 3, 4, 6; not: 2 (corrected to mel), 5, 7; other: 8.
    assert said.count("The model agreed: its top class was the confirmed diagnosis.") == 4
    assert said.count("The model did not agree: its top class was") == 3
    assert said.count("Agreement does not apply") == 1
    assert "Confirmed: Melanoma (mel), by histopathology on 2026-11-15." in said

    # History tells confirmed results by their listed outcomes (no reads beyond its page), so
    # the one whose only outcome cannot be read is among them, and its card says so.
    assert said.count("Confirmed outcome unreadable") == 1

    unconfirmed = history("unconfirmed")
    assert opened_ids(unconfirmed) == [ids[-2]]  # never confirmed
    assert "Confirmed" not in read(unconfirmed)
    assert len(opened_ids(history("all"))) == len(ids)


def test_the_performance_page_shows_what_evaluate_confirmed_prints(
    local_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed(LocalStore(local_env))
    out = tmp_path / "out"
    assert main(["evaluate", "--confirmed", "--out", str(out)]) == EXIT_OK
    printed = json.loads((out / "evaluation.json").read_text())

    at = new_app()
    at.switch_page("app_pages/performance.py").run()
    assert not at.exception, at.exception

    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Confirmed results": "8", "Cases the figures rest on": "7"}
    assert "Too few confirmed cases for reliable figures" in texts(at)
    assert "1 confirmed as other" in texts(at)
    summary = at.dataframe[0].value.set_index("Metric")
    for name, path in {
        "Accuracy": ("accuracy",),
        "Balanced accuracy": ("balanced_accuracy",),
        "Macro F1": ("macro_f1",),
        "Expected calibration error": ("expected_calibration_error",),
        "Melanoma sensitivity": ("melanoma", "sensitivity"),
        "Malignant specificity": ("malignant_vs_benign", "specificity"),
        "Triage referral sensitivity": ("triage_referral", "sensitivity"),
    }.items():
        expected = printed
        for part in path:
            expected = expected[part]
        row = summary.loc[name]
        assert row["Estimate"] == pytest.approx(expected["value"]), name
        interval = [row["95% interval from"], row["95% interval to"]]
        assert interval == pytest.approx(expected["interval"]), name
    assert summary.loc["Accuracy", "Based on"] == "4 of 7"

    classes = at.dataframe[1].value
    nv_precision = classes[
        (classes["Class"].str.endswith("(nv)")) & (classes["Metric"] == "Precision")
    ]
    assert nv_precision["Estimate"].item() == pytest.approx(
        printed["per_class"]["nv"]["precision"]["value"]
    )
    bcc_precision = classes[
        (classes["Class"].str.endswith("(bcc)")) & (classes["Metric"] == "Precision")
    ]
    assert math.isnan(bcc_precision["Estimate"].item())  # undefined, shown empty, never 0

    referrals = at.dataframe[2].value
    for shown_row, printed_row in zip(
        referrals.to_dict("records"), printed["triage_referral_by_threshold"], strict=True
    ):
        assert shown_row["Referral threshold"] == pytest.approx(printed_row["threshold"])
        assert (shown_row["TP"], shown_row["FN"], shown_row["TN"], shown_row["FP"]) == (
            printed_row["true_positives"],
            printed_row["false_negatives"],
            printed_row["true_negatives"],
            printed_row["false_positives"],
        )
        assert [shown_row["Sensitivity from"], shown_row["Sensitivity to"]] == pytest.approx(
            printed_row["sensitivity"]["interval"]
        )


def test_the_performance_page_without_confirmed_results_says_how_to_get_some(
    local_env: Path,
) -> None:
    at = new_app()
    at.switch_page("app_pages/performance.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Confirmed results"] == "0"
    assert "Too few confirmed cases for reliable figures" in texts(at)
    assert "No figures yet." in texts(at)


def test_history_reads_the_outcomes_of_its_page_only(
    local_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clinic confirms results for years: a History page must read its own 50 results'
    outcomes, not every outcome the clinic ever recorded."""
    store = LocalStore(local_env)
    for n in range(120):
        prediction_id = new_id(START + timedelta(minutes=n))
        store_prediction(store, "local", prediction_id, scores_with("nv", 0.8))
        confirm(store, "local", prediction_id, "nv")
    read_keys: list[str] = []
    get = LocalStore.get

    def counted(self: LocalStore, key: str, max_bytes: int | None = None) -> bytes:
        read_keys.append(key)
        return get(self, key, max_bytes)

    monkeypatch.setattr(LocalStore, "get", counted)
    at = new_app()
    at.switch_page("app_pages/history.py").run()
    assert not at.exception, at.exception
    shown = opened_ids(at)
    assert len(shown) == 50
    assert read(at).count("The model agreed") == 50  # every card has its outcome
    outcomes_read = {key.split("/")[2] for key in read_keys if key.startswith("outcomes/")}
    assert outcomes_read == set(shown)
