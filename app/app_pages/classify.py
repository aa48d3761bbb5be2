"""Classify: upload a dermatoscopic image (or pick a sample) and see all seven scores."""

from __future__ import annotations

import streamlit as st

from app import widgets
from app.backend import Backend
from app.session import active_session, samples
from runtime.classifiers import ClassifierError
from runtime.formats import UPLOAD_SUFFIXES
from runtime.images import InvalidImage
from runtime.labels import NAMES
from runtime.submission import ResultTimeout

backend, owner = active_session()


def classify(backend: Backend, owner: str, data: bytes, name: str) -> None:
    """Submit, wait with a visible status, and remember the id to show."""
    st.session_state.pop("classify_problem", None)
    try:
        prediction_id = backend.submit(owner, data, name)
    except InvalidImage as exc:
        st.session_state["classify_problem"] = str(exc)
        return
    st.session_state["last_id"] = prediction_id
    with st.status("Classifying...", expanded=False) as status:
        try:
            backend.wait(owner, prediction_id)
        except ResultTimeout as exc:
            status.update(label="Still waiting for the result", state="error")
            st.session_state["classify_problem"] = str(exc)
        except ClassifierError as exc:
            status.update(label="The model could not run", state="error")
            st.session_state["classify_problem"] = f"The model could not run: {exc}"
        else:
            status.update(label="Classified", state="complete")


st.header("Classify a dermatoscopic image")
limit_mb = backend.limits.max_bytes // 2**20
uploaded = st.file_uploader(
    "Dermatoscopic image",
    type=list(UPLOAD_SUFFIXES),
    key="upload",
    max_upload_size=limit_mb,
    help=f"JPEG, PNG or WebP up to {limit_mb} MB, taken through a dermatoscope. "
    "Ordinary photos are outside what the model learnt.",
)
if uploaded is not None and st.session_state.get("submitted_file") != uploaded.file_id:
    st.session_state["submitted_file"] = uploaded.file_id  # each upload is submitted once
    classify(backend, owner, uploaded.getvalue(), uploaded.name)

with st.expander("No image at hand? Try a real sample"):
    choice = st.selectbox(
        "Sample from the HAM10000 dataset",
        samples(),
        index=None,
        format_func=lambda s: f"{s.image_id}: {NAMES[s.code]} (confirmed by {s.confirmed_by})",
        key="sample",
    )
    st.caption(
        "Samples: HAM10000, Tschandl, Rosendahl & Kittler, Sci. Data 5, 180161 (2018), "
        "doi:10.1038/sdata.2018.161, CC BY-NC 4.0."
    )
    if st.button("Classify this sample", disabled=choice is None, key="classify_sample"):
        assert choice is not None
        classify(backend, owner, choice.path.read_bytes(), choice.path.name)

problem = st.session_state.get("classify_problem")
if problem:
    st.error(problem, icon=":material/error:")

last_id = st.session_state.get("last_id")
prediction = backend.result(owner, last_id) if last_id else None
if prediction is not None:
    st.divider()
    widgets.result_panel(
        prediction, backend.thumbnail(owner, prediction.id), "What the model saw (224x224)"
    )
    st.page_link(
        "app_pages/prediction.py",
        label="Details and provenance",
        icon=":material/insights:",
        query_params={"id": prediction.id},
    )
    st.download_button(
        "Download the record (JSON)",
        prediction.to_json(),
        file_name=f"dermascan-{prediction.id}.json",
        mime="application/json",
        key="download_record",
    )
