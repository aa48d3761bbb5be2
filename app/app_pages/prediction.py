"""Prediction: one result in full, with its provenance. Bookmarkable as ``prediction?id=...``."""

from __future__ import annotations

import streamlit as st

from app import widgets
from app.session import active_session
from runtime.keys import is_id

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

prediction = backend.result(owner, prediction_id)
if prediction is None:
    if backend.image(owner, prediction_id) is not None:
        st.info("This image is still being classified. Reload the page in a moment.")
    else:
        st.warning("No result with this id was found among your results.")
    st.stop()

original = backend.image(owner, prediction.id) if prediction.status == "ok" else None
picture = original or backend.thumbnail(owner, prediction.id)
widgets.result_panel(prediction, backend.rule, picture, "The uploaded image")

st.subheader("Provenance")
widgets.provenance(prediction)
st.download_button(
    "Download the record (JSON)",
    prediction.to_json(),
    file_name=f"dermascan-{prediction.id}.json",
    mime="application/json",
)
