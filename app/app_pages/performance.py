"""Performance: how accurate the model has been on this user's confirmed results, with the
count the figures rest on and their 95 % intervals (``dermascan evaluate --confirmed``)."""

from __future__ import annotations

import streamlit as st

from app.markup import plain
from app.outcome_widgets import class_frame, percent_columns, referral_frame, summary_frame
from app.session import active_session

backend, owner = active_session()
st.header("Performance")
st.write(
    "The model's accuracy measured on your own results whose diagnosis a clinician "
    "confirmed: the only accuracy figure that describes this model in your clinic. Each "
    "figure comes with its 95% confidence interval and the cases it rests on."
)

report = backend.performance(owner)
confirmed, rests_on = st.columns(2)
confirmed.metric("Confirmed results", report.confirmed)
rests_on.metric("Cases the figures rest on", report.n)
if report.excluded_other:
    st.write(
        f"{report.excluded_other} confirmed as other (not one of the seven classes the model "
        "knows) are left out of every figure."
    )
warning = report.warning()
if warning:
    st.warning(plain(warning), icon=":material/warning:")
if report.n == 0:
    st.info(
        "No figures yet. Open a result, record its confirmed diagnosis under Confirmed "
        "outcome, and it counts here."
    )
    st.stop()

st.subheader("Overall")
summary = summary_frame(report)
st.dataframe(summary, hide_index=True, column_config=percent_columns(summary), key="summary")
st.caption(
    "Proportions have Wilson intervals; balanced accuracy, macro F1 and calibration error a "
    "bootstrap over the cases. An empty cell is undefined: no case to compute it on."
)

st.subheader("Each class")
st.caption("A class with few confirmed cases has a wide interval: read the Based on column.")
classes = class_frame(report)
st.dataframe(classes, hide_index=True, column_config=percent_columns(classes), key="classes")

st.subheader("Triage referral by threshold")
st.caption(
    "Malignant lesions (akiec, bcc, mel) flagged for a clinician (refer or uncertain) at each "
    f"malignant-total threshold; the configured one is {report.referral.counts.threshold:.0%}."
)
referrals = referral_frame(report)
st.dataframe(referrals, hide_index=True, column_config=percent_columns(referrals), key="referrals")
