"""Classify: upload a dermatoscopic image (or pick a sample) and see its triage and seven scores.

The result area below the choosers belongs to the current choice only: choosing another file
or sample empties it at once, before the new image is even stored, so an old verdict can never
sit under a new file's name.
"""

from __future__ import annotations

import streamlit as st

from app import clinic, widgets
from app.backend import Backend
from app.markup import plain
from app.session import active_session, samples, sign_in_configured
from runtime.cases import CaseDetails
from runtime.classifiers import ClassifierError
from runtime.formats import UPLOAD_SUFFIXES
from runtime.images import InvalidImage
from runtime.labels import NAMES
from runtime.submission import ResultTimeout

backend, owner = active_session()


def forget_result() -> None:
    """A new file or sample was chosen: what is shown no longer belongs to it."""
    for key in ("last_id", "classify_problem", "shown_source"):
        st.session_state.pop(key, None)


def classify(
    backend: Backend, owner: str, data: bytes, source: str, case: CaseDetails | None = None
) -> None:
    """Submit, wait with a visible status, and remember what to show for ``source``."""
    forget_result()
    st.session_state["shown_source"] = source
    try:
        prediction_id = backend.submit(owner, data, source, case)
    except InvalidImage as exc:
        st.session_state["classify_problem"] = str(exc)
        return
    st.session_state["last_id"] = prediction_id
    waiting = "Classifying..."
    if backend.model_status().state == "loading":
        waiting = "Classifying (the model is still loading)..."
    with st.status(waiting, expanded=False) as status:
        try:
            record = backend.wait(owner, prediction_id)
        except ResultTimeout as exc:
            status.update(label="Still waiting for the result", state="error")
            st.session_state["classify_problem"] = str(exc)
        except ClassifierError as exc:
            status.update(label="The model could not run", state="error")
            st.session_state["classify_problem"] = f"The model could not run: {exc}"
        except LookupError:  # deleted (from another page or tab) before its result came
            status.update(label="Deleted before it was classified", state="error")
            st.session_state["classify_problem"] = (
                "This image was deleted before its result came. Choose it again to classify it."
            )
        else:
            if record.status == "ok":
                status.update(label="Classified", state="complete")
            else:  # never a success mark over a refusal
                status.update(label="Could not be classified", state="error")
    st.session_state["scroll_to_result"] = True


st.header("Classify a dermatoscopic image")
widgets.model_banner(backend)
clinic.privacy_notice(backend, signed_in=sign_in_configured())
# Before the image: an upload is classified as soon as it is chosen, with these details.
case = clinic.case_fields()
limit = widgets.size_text(backend.limits.max_bytes)
uploaded = st.file_uploader(
    "Dermatoscopic image",
    type=list(UPLOAD_SUFFIXES),
    key="upload",
    on_change=forget_result,
    help="Taken through a dermatoscope: ordinary photos are outside what the model learnt.",
)
st.caption(f"JPEG, PNG or WebP, up to {limit}. A larger file is refused before it is stored.")
widgets.refused_upload_guard(backend.limits.max_bytes)

with st.expander("No image at hand? Try a real sample"):
    choice = st.selectbox(
        "Sample from the HAM10000 dataset",
        samples(),
        index=None,
        format_func=lambda s: f"{s.image_id}: {NAMES[s.code]} (confirmed by {s.confirmed_by})",
        key="sample",
        on_change=forget_result,
    )
    st.caption(
        "Samples: HAM10000, Tschandl, Rosendahl & Kittler, Sci. Data 5, 180161 (2018), "
        "doi:10.1038/sdata.2018.161, CC BY-NC 4.0."
    )
    sample_clicked = st.button(
        "Classify this sample", disabled=choice is None, key="classify_sample"
    )

# Two slots, one after the other: the classification under way, then the result. The result
# slot is emptied the moment this run reaches it, so while a new image is classified nothing
# of the previous result stays on screen. They must be two: Streamlit sends a slot emptied and
# refilled at once as the refill alone, and the browser keeps the children of a container that
# replaces one at the same place until the run ends, so an old result sharing a slot with
# "Classifying..." could stay on screen, faded, for the whole wait.
working = st.empty()
slot = st.empty()
fresh_upload = uploaded is not None and st.session_state.get("submitted_file") != uploaded.file_id
if case is None and (fresh_upload or sample_clicked):
    # A refused reference or note holds the image back, never loses it: the uploader keeps
    # the file, and it is classified on the first run after the field is corrected.
    forget_result()
    st.session_state["classify_problem"] = (
        "Nothing was stored yet: correct the reference or note above, and your image will "
        "be classified with them."
    )
elif fresh_upload and uploaded is not None:
    st.session_state["submitted_file"] = uploaded.file_id  # each upload is submitted once
    with working.container():
        classify(backend, owner, uploaded.getvalue(), f"upload:{uploaded.file_id}", case)
    working.empty()  # the result below says how it ended
elif sample_clicked and choice is not None:
    with working.container():
        classify(backend, owner, choice.path.read_bytes(), f"sample:{choice.image_id}", case)
    working.empty()

# What is shown must belong to what is chosen now: an upload removed from the uploader takes
# its result with it.
source = st.session_state.get("shown_source", "")
if source.startswith("upload:") and (uploaded is None or source != f"upload:{uploaded.file_id}"):
    forget_result()

with slot.container():
    problem = st.session_state.get("classify_problem")
    if problem:
        st.error(plain(problem), icon=":material/error:")
    last_id = st.session_state.get("last_id")
    prediction = backend.result(owner, last_id) if last_id else None
    if prediction is not None:
        st.divider()
        widgets.result_anchor()
        if choice is not None and source == f"sample:{choice.image_id}":
            widgets.confirmed_diagnosis(choice.code, choice.confirmed_by)
        widgets.result_panel(
            prediction,
            backend.rule,
            backend.thumbnail(owner, prediction.id),
            "What the model saw: the upload squashed to 224x224 pixels",
        )
        clinic.case_details(prediction)
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
        if st.session_state.pop("scroll_to_result", False):
            widgets.scroll_to_result()
