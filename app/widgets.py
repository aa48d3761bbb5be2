"""UI pieces more than one page shows: the score chart and table, the verdict, the provenance."""

from __future__ import annotations

from typing import Final

import altair as alt
import pandas as pd
import streamlit as st

from runtime.labels import MALIGNANT, NAMES
from runtime.records import Prediction

# When to say "uncertain": a top score under UNCERTAIN_TOP_SCORE, or a lead over the runner-up
# under UNCERTAIN_MARGIN. The model is overconfident on images unlike its training data, so
# these flag the clearly doubtful cases only; a confident answer is not a safe one.
UNCERTAIN_TOP_SCORE: Final = 0.60
UNCERTAIN_MARGIN: Final = 0.20

DISCLAIMER: Final = (
    "**Decision support, not a diagnosis.** These scores say how much the image resembles "
    "each lesion class the model learnt from dermatoscopic images. Any lesion that worries "
    "you, bleeds, itches or changes needs a clinician."
)


def class_label(code: str) -> str:
    """``Melanoma (mel)``."""
    return f"{NAMES[code]} ({code})"


def uncertainty(prediction: Prediction) -> str | None:
    """Why this result is uncertain, in words, or None when it is not."""
    ranked = prediction.ranked()
    if len(ranked) < 2:
        return None
    (top, top_score), (second, second_score) = ranked[0], ranked[1]
    if top_score < UNCERTAIN_TOP_SCORE:
        return (
            f"The model is unsure: its top class has only {top_score:.0%}. "
            "Treat this result as inconclusive."
        )
    if top_score - second_score < UNCERTAIN_MARGIN:
        return (
            f"The model hesitates between {NAMES[top]} ({top_score:.0%}) and "
            f"{NAMES[second]} ({second_score:.0%}). Treat this result as inconclusive."
        )
    return None


def scores_frame(prediction: Prediction) -> pd.DataFrame:
    """All seven scores, highest first, with the malignant classes marked."""
    return pd.DataFrame(
        [
            {
                "Class": class_label(code),
                "Score": score,
                "Kind": "Malignant" if code in MALIGNANT else "Benign",
            }
            for code, score in prediction.ranked()
        ]
    )


def score_chart(prediction: Prediction) -> None:
    """A horizontal bar chart of all seven scores, sorted, malignant classes in red."""
    frame = scores_frame(prediction)
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("Score:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y(
                "Class:N", sort=None, title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)
            ),
            color=alt.Color(
                "Kind:N",
                scale=alt.Scale(domain=["Malignant", "Benign"], range=["#c62828", "#607d8b"]),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            tooltip=["Class", alt.Tooltip("Score:Q", format=".1%"), "Kind"],
        )
        .properties(height=alt.Step(34))  # one band per class: all seven labels fit
    )
    st.altair_chart(
        chart, width="stretch", alt="Bar chart of the seven class scores, highest first."
    )


def score_table(prediction: Prediction) -> None:
    """The seven scores as a table (what the chart shows, readable by screen readers)."""
    st.dataframe(
        scores_frame(prediction),
        hide_index=True,
        column_config={
            "Score": st.column_config.ProgressColumn(
                "Score", format="percent", min_value=0.0, max_value=1.0
            )
        },
    )


def verdict(prediction: Prediction) -> None:
    """The top class in plain language, its score, whether it is malignant, and any doubt."""
    if prediction.status == "error" or prediction.top is None:
        reason = prediction.error.message if prediction.error else "unknown reason"
        st.error(f"This file could not be classified. {reason}")
        return
    top = prediction.top
    score = prediction.scores[top]
    st.subheader(f"{NAMES[top]} ({top}): {score:.0%}")
    if top in MALIGNANT:
        st.error(
            f"**{NAMES[top]} is a malignant class.** Have this lesion examined by a "
            "dermatologist soon.",
            icon=":material/warning:",
        )
    else:
        st.success(f"{NAMES[top]} is a benign class.", icon=":material/check_circle:")
    doubt = uncertainty(prediction)
    if doubt:
        st.warning(f"**Uncertain.** {doubt}", icon=":material/help:")


def result_panel(prediction: Prediction, picture: bytes | None, caption: str) -> None:
    """One result as both Classify and Prediction show it: the image beside the verdict, then
    all seven scores as a chart and a table."""
    left, right = st.columns([1, 2])
    with left:
        if picture:
            st.image(picture, caption=caption)
    with right:
        verdict(prediction)
    if prediction.status == "ok":
        st.subheader("All seven scores")
        score_chart(prediction)
        with st.expander("The seven scores as a table"):
            score_table(prediction)


def provenance(prediction: Prediction) -> None:
    """Where the result came from: model, image, timings and time."""
    model = prediction.model
    image = prediction.image
    rows = [
        ("Model", model.id),
        ("Model revision", model.revision or "local copy"),
        ("Run by", model.backend + (f" endpoint {model.endpoint}" if model.endpoint else "")),
        ("Record schema version", str(prediction.schema_version)),
        ("Created (UTC)", prediction.created_at),
        ("Image SHA-256", image.sha256 if image else "-"),
        ("Image size", f"{image.bytes:,} bytes" if image else "-"),
        (
            "Image format",
            f"{image.format} {image.width}x{image.height}"
            if image and image.format and image.width and image.height
            else "unreadable",
        ),
        ("Preprocessing", f"{prediction.timings_ms.preprocess:.0f} ms"),
        ("Inference", f"{prediction.timings_ms.inference:.0f} ms"),
        ("Total", f"{prediction.timings_ms.total:.0f} ms"),
        ("Upload key", prediction.upload_key),
    ]
    # A plain HTML table: selectable, printable and read by screen readers.
    st.table(pd.DataFrame(rows, columns=["Field", "Value"]).set_index("Field"))
