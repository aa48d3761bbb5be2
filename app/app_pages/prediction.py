"""Prediction: one result in full, with its provenance. Bookmarkable as ``prediction?id=...``."""

from __future__ import annotations

import streamlit as st

from app import widgets
from app.session import active_session
from runtime.keys import InvalidKey
from runtime.records import UnreadableRecord

backend, owner = active_session()
st.header("Prediction")

prediction_id = st.query_params.get("id") or st.session_state.get("last_id")
if not prediction_id:
    st.info("Open a result from History, or classify an image first.")
    st.page_link("app_pages/history.py", label="History", icon=":material/history:")
    st.stop()

try:
    prediction = backend.result(owner, prediction_id)
except InvalidKey:
    prediction = None  # a malformed id is just another id that does not exist
except UnreadableRecord:
    st.error("This result's record cannot be read. The upload is kept; the logs say why.")
    st.stop()
if prediction is None:
    try:
        pending = backend.image(owner, prediction_id) is not None
    except InvalidKey:
        pending = False
    if pending:
        st.info("This image is still being classified. Reload the page in a moment.")
    else:
        st.warning(f"No result with the id {prediction_id!r} was found.")
    st.stop()

original = backend.image(owner, prediction.id) if prediction.status == "ok" else None
picture = original or backend.thumbnail(owner, prediction.id)
widgets.result_panel(prediction, picture, "The uploaded image")

st.subheader("Provenance")
widgets.provenance(prediction)
st.download_button(
    "Download the record (JSON)",
    prediction.to_json(),
    file_name=f"dermascan-{prediction.id}.json",
    mime="application/json",
)
