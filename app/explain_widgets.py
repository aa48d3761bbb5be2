"""The Prediction page's "where the model looked" section: ask for a result's occlusion map, see
that it is being computed, then see it laid over the model input with an opacity control.

The map is computed by the pipeline (the local worker, or the Lambda function on AWS), once per
result; this module only asks for it and shows it.
"""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from typing import Final

import streamlit as st

from app.backend import Backend
from runtime.classifiers import ClassifierError
from runtime.explain import MALIGNANT_TARGET, ExplanationError, OcclusionMap, overlay
from runtime.labels import NAMES
from runtime.records import Prediction

WHAT_IT_IS: Final = (
    "Red marks the regions whose masking changed the score most: where the model looked for "
    "this answer. It is not a diagnosis and not a segmentation: it does not outline the "
    "lesion, and a region the model relied on is not thereby suspicious."
)
LOCAL_WAIT_SECONDS: Final = 600.0
"""How long the page waits for the local worker: the masked batch is ~50 classifications."""
POLL_SECONDS: Final = 3.0
STALE_AFTER: Final = timedelta(minutes=15)
"""On AWS, a request older than this is taken as stuck (the function refused it, or keeps
failing) and may be made again: harmless, since a stored explanation is never computed twice,
and a person is not left watching a message that never changes."""
_FUTURES: Final = "explanation_futures"


def explained_what(occlusion: OcclusionMap) -> str:
    """What the map explains, in words: the malignant total or one class's score."""
    if occlusion.target == MALIGNANT_TARGET:
        return "the malignant total (akiec + bcc + mel)"
    return f"the score of {NAMES[occlusion.target]}"


def explanation_section(backend: Backend, owner: str, prediction: Prediction) -> None:
    """The section for one result; nothing for a result without scores."""
    if prediction.status != "ok":
        return
    st.subheader("Where the model looked")
    try:
        occlusion = backend.explanation(owner, prediction.id)
    except ExplanationError:
        st.error(
            "This result's stored explanation cannot be read (damaged, or written by another "
            "version of dermascan). Delete the result's explanation files or ask your "
            "administrator; the result itself is unaffected."
        )
        return
    if occlusion is not None:
        _show(backend, owner, prediction, occlusion)
        return
    futures: dict[str, Future[OcclusionMap]] = st.session_state.setdefault(_FUTURES, {})
    requested_at = backend.explanation_requested_at(owner, prediction.id)
    stale = requested_at is not None and datetime.now(UTC) - requested_at > STALE_AFTER
    if prediction.id in futures or (requested_at is not None and not stale):
        _wait(backend, owner, prediction, futures.get(prediction.id))
        return
    if stale:
        st.warning(
            "The explanation asked for earlier has not arrived after "
            f"{STALE_AFTER.seconds // 60} minutes: the stack could not compute it (its "
            "function's logs say why). Ask again below, or later."
        )
    st.caption(
        "An occlusion map hides each of 49 squares of the model input in turn and classifies "
        "every copy: it takes about as long as 50 classifications, once per result."
    )
    if st.button("Show where the model looked", icon=":material/visibility:", key="explain"):
        try:
            future = backend.request_explanation(owner, prediction.id)
        except ExplanationError as exc:
            st.error(f"This result cannot be explained: {exc}.")
            return
        if future is not None:
            futures[prediction.id] = future
        st.rerun()


def _wait(
    backend: Backend, owner: str, prediction: Prediction, future: Future[OcclusionMap] | None
) -> None:
    """Show that the map is being computed until it is stored, then the map."""
    if future is not None:  # local: the worker's future says when, or why it failed
        with st.spinner("Computing where the model looked: classifying 50 masked copies..."):
            try:
                future.result(timeout=LOCAL_WAIT_SECONDS)
            except FutureTimeout:
                st.warning("The explanation is still being computed. Reload the page in a minute.")
                return
            except (ExplanationError, ClassifierError) as exc:
                st.session_state[_FUTURES].pop(prediction.id, None)
                st.error(f"The explanation could not be computed: {exc}. Try again later.")
                return
        st.session_state[_FUTURES].pop(prediction.id, None)
        st.rerun()

    # AWS: the function computes it; poll the store without holding up the rest of the page.
    @st.fragment(run_every=POLL_SECONDS)
    def poll() -> None:
        if backend.explanation(owner, prediction.id) is not None:
            st.rerun(scope="app")
        st.info(
            "Computing where the model looked: the stack classifies 50 masked copies of the "
            "image (under a minute once the endpoint is warm; longer after a quiet spell). "
            "This page shows it when it is ready; you can leave and come back."
        )

    poll()


def _show(backend: Backend, owner: str, prediction: Prediction, occlusion: OcclusionMap) -> None:
    model_input = backend.thumbnail(owner, prediction.id)
    heat = backend.explanation_png(owner, prediction.id)
    if model_input is None or heat is None:
        st.warning("The explanation's images are missing. Delete and classify the image again.")
        return
    opacity = st.slider(
        "Opacity of the map",
        min_value=0,
        max_value=100,
        value=60,
        step=10,
        format="%d%%",
        key="explanation_opacity",
        help="0 % shows the model input alone; 100 % the map at full strength.",
    )
    # Twice the model input's size on a wide screen; the whole width, no more, on a phone
    # (columns stack there), so the map is never cut off.
    picture, _ = st.columns([3, 2])
    picture.image(
        overlay(model_input, heat, opacity / 100),
        caption=(
            f"The 224x224 model input with the occlusion map of {explained_what(occlusion)} "
            f"over it ({occlusion.grid}x{occlusion.grid} regions)."
        ),
        alt=(
            "The model input with red squares over the regions whose masking lowered "
            f"{explained_what(occlusion)} most."
        ),
        width="stretch",
    )
    st.markdown(WHAT_IT_IS)
    st.caption(strongest_region(occlusion))


def strongest_region(occlusion: OcclusionMap) -> str:
    """The map in one sentence: the score, and what masking its strongest region did."""
    whole = f"Explains {explained_what(occlusion)}: {occlusion.baseline:.0%} for the whole image."
    row, col = occlusion.hottest(1)[0]
    strongest = occlusion.drops[row][col]
    if strongest * 100 < 0.5:  # nothing that rounds to a point: no region to point at
        return f"{whole} Masking no single region lowered it: the map has nothing to mark."
    return (
        f"{whole} Masking the strongest region (row {row + 1}, column {col + 1}) lowers it by "
        f"{strongest * 100:.0f} percentage points."
    )
