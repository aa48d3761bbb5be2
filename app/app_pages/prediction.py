"""Prediction: one result in full, with its provenance. Bookmarkable as ``prediction?id=...``."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from app import clinic, widgets
from app.explain_widgets import explanation_section
from app.outcome_widgets import outcome_section
from app.report import report_html
from app.session import active_session, viewer_zone
from runtime.keys import is_id
from runtime.records import UnreadableRecord

backend, owner = active_session()
st.header("Prediction")
st.page_link("app_pages/history.py", label="Back to History", icon=":material/arrow_back:")

# The id comes from the address bar: anyone can craft it. It is checked before anything is
# done with it and never echoed, so a link cannot put its own words on this page.
prediction_id = st.query_params.get("id", "")
if not prediction_id:
    st.info("Open a result from History, or classify an image first.")
    st.stop()
if not is_id(prediction_id):
    st.warning(
        "This link does not point to a result: the id in it is malformed. Open the result "
        "from History instead."
    )
    st.stop()

try:
    prediction = backend.result(owner, prediction_id)
except UnreadableRecord:
    st.error(
        "This result's record cannot be read (damaged, or written by another version of "
        "dermascan). The upload is kept; the logs say why."
    )
    st.stop()
if prediction is None:
    if backend.image(owner, prediction_id) is not None:
        st.info("This image is still being classified. Reload the page in a moment.")
    else:
        st.warning(
            "No result with this id was found among your results: this result does not "
            "exist or was deleted."
        )
    st.stop()

original = backend.image(owner, prediction.id) if prediction.status == "ok" else None
picture = original or backend.thumbnail(owner, prediction.id)
widgets.result_panel(prediction, backend.rule, picture, "The uploaded image")
clinic.case_details(prediction)

zone = viewer_zone()
st.subheader("Provenance")
widgets.provenance(prediction, zone)
report, record = st.columns(2)
report.download_button(
    "Printable report (HTML)",
    report_html(
        prediction,
        backend.rule,
        picture=picture,
        created=datetime.fromisoformat(prediction.created_at).astimezone(zone),
    ),
    file_name=f"dermascan-report-{prediction.id}.html",
    mime="text/html",
    icon=":material/print:",
    help="Open it in a browser and print it, or save it as PDF.",
    key="download_report",
)
record.download_button(
    "The record (JSON)",
    prediction.to_json(),
    file_name=f"dermascan-{prediction.id}.json",
    mime="application/json",
    icon=":material/data_object:",
    key="download_record",
)

explanation_section(backend, owner, prediction)
outcome_section(backend, owner, prediction, zone)

# --- the lesion's timeline and deletion -------------------------------------------------------
if prediction.reference is not None:
    st.subheader("This lesion over time")
    clinic.lesion_timeline(backend, owner, prediction.reference, zone, current=prediction.id)
clinic.delete_result_section(backend, owner, prediction.id, zone)
