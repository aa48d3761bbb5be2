"""UI for confirmed outcomes: the form and history on a result, the line on a History card,
the History filter, and the Performance page's tables.

Outcome fields come from fixed lists (``runtime.outcomes``) and are validated when read, yet
everything stored or raised still goes through ``app.markup.plain``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, tzinfo
from typing import Final

import pandas as pd
import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

from app.backend import Backend, Confirmation
from app.markup import plain
from app.widgets import class_label, local_time
from runtime.confirmed import OutcomeRefused
from runtime.live_accuracy import ConfirmedReport, Estimate
from runtime.outcomes import DIAGNOSES, METHODS, OTHER, ConfirmedOutcome, InvalidOutcome, agrees
from runtime.records import Prediction

CONFIRMATIONS: Final[dict[Confirmation, str]] = {
    "all": "All",
    "confirmed": "Confirmed",
    "unconfirmed": "Not confirmed",
}


def diagnosis_label(code: str) -> str:
    """``Melanoma (mel)``, or what ``other`` means."""
    return "Other (not one of the seven classes)" if code == OTHER else class_label(code)


def agreement(prediction: Prediction, outcome: ConfirmedOutcome) -> str:
    """Whether the model's top class was the confirmed diagnosis, in words."""
    agreed = agrees(outcome, prediction)
    top = class_label(prediction.top) if prediction.top else "none"
    if agreed is None:
        return (
            "Agreement does not apply: the confirmed diagnosis is not one of the seven classes "
            f"the model knows (its top class was {top})."
        )
    if agreed:
        return "The model agreed: its top class was the confirmed diagnosis."
    return f"The model did not agree: its top class was {top}."


def _outcome_line(outcome: ConfirmedOutcome) -> str:
    return (
        f"{diagnosis_label(outcome.diagnosis)}, by {plain(outcome.method)} on "
        f"{outcome.confirmed_on.isoformat()}"
    )


def history_outcome(
    prediction: Prediction, outcome: ConfirmedOutcome | None, recorded: bool = False
) -> None:
    """A History card's confirmed diagnosis and the model's agreement; nothing if none was
    recorded, and a sentence if one was (``recorded``) but none of it can be read."""
    if outcome is not None:
        st.markdown(f"**Confirmed:** {_outcome_line(outcome)}.  \n{agreement(prediction, outcome)}")
    elif recorded:
        st.markdown(
            "**Confirmed outcome unreadable:** it is damaged or was written by another version "
            "of dermascan, and counts nowhere. Record it again on the result's page."
        )


def confirmation_choice() -> Confirmation:
    """The History filter by confirmed outcome."""
    # A select box, like the other filters: axe-core finds the selected segment of a
    # segmented control too faint (colour contrast) at laptop width.
    choice: Confirmation = st.selectbox(
        "Confirmed outcome",
        list(CONFIRMATIONS),
        format_func=CONFIRMATIONS.__getitem__,
        key="history_confirmation",
        help="Confirmed: a clinician recorded what the lesion turned out to be. Not confirmed: "
        "classified results without one.",
    )
    return choice


def outcome_section(backend: Backend, owner: str, prediction: Prediction, zone: tzinfo) -> None:
    """The confirmed outcome of a result and its earlier, corrected ones, then the form that
    records one (a correction is recorded the same way: the latest counts)."""
    st.subheader("Confirmed outcome")
    if prediction.status != "ok":
        st.write(
            "This image was not classified, so there is no prediction to compare a confirmed "
            "diagnosis with."
        )
        return
    current = st.container()  # filled after the form, so a new outcome shows at once
    _outcome_form(backend, owner, prediction)
    with current:
        history = backend.outcome_history(owner, prediction.id)
        if not history:
            st.write("No confirmed outcome has been recorded for this result yet.")
            return
        latest, *earlier = history
        recorded = local_time(datetime.fromisoformat(latest.recorded_at), zone)
        st.markdown(
            f"**Confirmed diagnosis:** {_outcome_line(latest)} (recorded {recorded}).  \n"
            f"{agreement(prediction, latest)}"
        )
        if earlier:
            lines = [
                f"- {_outcome_line(o)} (recorded "
                f"{local_time(datetime.fromisoformat(o.recorded_at), zone)})"
                for o in earlier
            ]
            st.markdown("Earlier outcomes, since corrected:\n" + "\n".join(lines))


def _outcome_form(backend: Backend, owner: str, prediction: Prediction) -> None:
    # Outcomes must not be confirmed after they are recorded, in UTC (runtime.outcomes).
    today = datetime.now(UTC).date()
    with st.form("outcome_form"):
        st.markdown("Record the confirmed diagnosis, or correct the one above.")
        diagnosis = st.selectbox(
            "Confirmed diagnosis",
            DIAGNOSES,
            index=None,
            format_func=diagnosis_label,
            placeholder="Choose the confirmed diagnosis",
            key="outcome_diagnosis",
        )
        method = st.selectbox(
            "How it was confirmed",
            METHODS,
            index=None,
            format_func=str.capitalize,
            placeholder="Choose how it was confirmed",
            key="outcome_method",
        )
        confirmed_on: date = st.date_input(
            "Confirmed on", value=today, format="YYYY-MM-DD", key="outcome_date"
        )
        submitted = st.form_submit_button("Record outcome", key="outcome_submit")
    if not submitted:
        return
    if diagnosis is None or method is None:
        st.error("Choose the confirmed diagnosis and how it was confirmed, then record again.")
        return
    if confirmed_on > today:
        st.error(
            f"The date of confirmation cannot be in the future (today is {today.isoformat()} "
            "in UTC). Check the date and record again."
        )
        return
    try:
        outcome = backend.record_outcome(owner, prediction.id, diagnosis, method, confirmed_on)
    except (InvalidOutcome, OutcomeRefused) as exc:
        st.error(f"The outcome was not recorded: {plain(exc)}")
        return
    st.success(f"Recorded: {_outcome_line(outcome)}.")


# --- the Performance page ------------------------------------------------------------------


def _row(name: str, estimate: Estimate, n: int) -> dict[str, object]:
    based = (
        f"{estimate.successes} of {estimate.trials}"
        if estimate.trials is not None
        else f"{n} cases (bootstrap)"
    )
    return {
        "Metric": name,
        "Estimate": None if math.isnan(estimate.value) else estimate.value,
        "95% interval from": None if math.isnan(estimate.interval.low) else estimate.interval.low,
        "95% interval to": None if math.isnan(estimate.interval.high) else estimate.interval.high,
        "Based on": based,
    }


def summary_frame(report: ConfirmedReport) -> pd.DataFrame:
    """The overall metrics, each with its interval and what it rests on."""
    n = report.n
    rows = [
        _row("Accuracy", report.accuracy, n),
        _row("Balanced accuracy", report.balanced_accuracy, n),
        _row("Macro F1", report.macro_f1, n),
        _row("Expected calibration error", report.expected_calibration_error, n),
        _row("Melanoma sensitivity", report.melanoma_sensitivity, n),
        _row("Melanoma specificity", report.melanoma_specificity, n),
        _row("Malignant sensitivity", report.malignant_sensitivity, n),
        _row("Malignant specificity", report.malignant_specificity, n),
        _row("Triage referral sensitivity", report.referral.sensitivity, n),
        _row("Triage referral specificity", report.referral.specificity, n),
    ]
    return pd.DataFrame(rows)


def class_frame(report: ConfirmedReport) -> pd.DataFrame:
    """Precision, recall (sensitivity), specificity and F1 of each class."""
    rows = []
    for code, m in report.per_class.items():
        for name, estimate in (
            ("Precision", m.precision),
            ("Recall (sensitivity)", m.recall),
            ("Specificity", m.specificity),
            ("F1", m.f1),
        ):
            rows.append({"Class": class_label(code)} | _row(name, estimate, report.n))
    return pd.DataFrame(rows)


def referral_frame(report: ConfirmedReport) -> pd.DataFrame:
    """The triage rule at each referral threshold, with intervals."""
    rows = []
    for row in report.referral_table:
        counts = row.counts
        rows.append(
            {
                "Referral threshold": counts.threshold,
                "Sensitivity": row.sensitivity.value,
                "Sensitivity from": row.sensitivity.interval.low,
                "Sensitivity to": row.sensitivity.interval.high,
                "Specificity": row.specificity.value,
                "Specificity from": row.specificity.interval.low,
                "Specificity to": row.specificity.interval.high,
                "Flagged": row.flagged.value,
                "TP": counts.true_positives,
                "FN": counts.false_negatives,
                "TN": counts.true_negatives,
                "FP": counts.false_positives,
            }
        )
    return pd.DataFrame(rows).astype({"TP": int, "FN": int, "TN": int, "FP": int})


_NOT_FRACTIONS: Final = frozenset({"Metric", "Based on", "Class", "TP", "FN", "TN", "FP"})


def percent_columns(frame: pd.DataFrame) -> dict[str, ColumnConfig]:
    """Column settings that show every fraction in ``frame`` as a percentage."""
    return {
        column: st.column_config.NumberColumn(column, format="percent")
        for column in frame.columns
        if column not in _NOT_FRACTIONS
    }
