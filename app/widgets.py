"""UI pieces more than one page shows: the verdict, the score chart and table, the provenance.

Every text that comes from a record, a file or a user goes through ``app.markup.plain``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Final

import pandas as pd
import streamlit as st

from app.backend import Backend
from app.markup import plain
from runtime.labels import MALIGNANT, NAMES
from runtime.records import Prediction
from runtime.triage import Level, Triage, TriageRule, triage

DISCLAIMER: Final = (
    "**Decision support, not a diagnosis.** These scores say how much the image resembles "
    "each lesion class the model learnt from dermatoscopic images. Any lesion that worries "
    "you, bleeds, itches or changes needs a clinician."
)


_RESULT_ANCHOR: Final = "dermascan-result"
# A constant script, never built from data: bring the new result into view on small screens.
# Retried for a moment: the script can run before the result above it is laid out.
_SCROLL_SCRIPT: Final = (
    "<script>(() => { let tries = 0; const go = () => {"
    " const anchor = document.getElementById('" + _RESULT_ANCHOR + "');"
    " if (anchor) { anchor.scrollIntoView({block: 'start'}); window.dermascanScrolled = true; }"
    " if (++tries < 10) setTimeout(go, 150); }; go(); })();</script>"
)


_UPLOAD_GUARD: Final = (Path(__file__).parent / "assets" / "upload_guard.js").read_text()


def refused_upload_guard(max_bytes: int) -> None:
    """Say in the page when the browser refuses a file, and hide the earlier result meanwhile."""
    script = _UPLOAD_GUARD % {"limit": size_text(max_bytes), "anchor": _RESULT_ANCHOR}
    st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def size_text(size: int) -> str:
    """A byte count as people read it: ``10 MB`` for 10 MiB."""
    return f"{size / 2**20:.3g} MB"


def model_banner(backend: Backend) -> None:
    """Say so while the model loads (or downloads), and why it failed if it did."""
    status = backend.model_status()
    if status.state == "failed":
        st.error(f"The model could not be loaded: {plain(status.error)}", icon=":material/error:")
    elif status.state in ("loading", "not loaded"):
        _loading_banner(backend)


@st.fragment(run_every=1.0)
def _loading_banner(backend: Backend) -> None:
    status = backend.model_status()
    if status.state in ("ready", "failed"):
        st.rerun()  # the whole page again, without this banner
    if status.downloading:
        st.info(
            "Downloading the model (about 350 MB) from the Hugging Face Hub. This happens "
            "once; later starts load it from disk. You can upload now: the result follows "
            "when the model is ready.",
            icon=":material/download:",
        )
    else:
        st.info(
            "Loading the model. You can upload now: the result follows when it is ready.",
            icon=":material/hourglass_top:",
        )


def result_anchor() -> None:
    """Where a new result starts, for ``scroll_to_result``."""
    st.html(f'<div id="{_RESULT_ANCHOR}"></div>')


def scroll_to_result() -> None:
    """Scroll the result that just arrived into view."""
    st.html(_SCROLL_SCRIPT, unsafe_allow_javascript=True)


def confirmed_diagnosis(code: str, confirmed_by: str) -> None:
    """A bundled sample's confirmed diagnosis, to read beside the model's answer."""
    st.info(
        f"This sample's confirmed diagnosis: **{class_label(code)}**, confirmed by "
        f"{plain(confirmed_by)}. Compare it with the model's answer below.",
        icon=":material/verified:",
    )


def class_label(code: str) -> str:
    """``Melanoma (mel)``."""
    return f"{NAMES[code]} ({code})"


def percent(score: float) -> str:
    """A score as a whole percentage, never falsely precise: ``38%``, ``<1%``, ``>99%``."""
    if 0 < score < 0.005:
        return "<1%"
    if 0.995 < score < 1:
        return ">99%"
    return f"{score:.0%}"


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


def score_rows(prediction: Prediction) -> None:
    """The seven scores, highest first, one row each: the percentage as text and a bar, the
    malignant classes marked by a word and a sign, not by colour alone. Fits a phone."""
    for code, score in prediction.ranked():
        marker = " · **▲ malignant**" if code in MALIGNANT else ""
        st.progress(
            min(max(score, 0.0), 1.0), text=f"**{percent(score)}** {class_label(code)}{marker}"
        )


def score_table(prediction: Prediction) -> None:
    """The seven scores as a table (to sort, copy or read with a screen reader)."""
    st.dataframe(
        scores_frame(prediction),
        hide_index=True,
        column_config={
            "Score": st.column_config.NumberColumn("Score", format="percent"),
        },
    )


def verdict(prediction: Prediction, rule: TriageRule) -> Triage | None:
    """The verdict, risk first: the triage level and the malignant total, then the top class.

    Nothing reassuring appears unless the rule gives the lowest level; a malignant class behind
    a benign top class is named; "uncertain" is defined where it is said.

    Returns:
        The triage, or None for a record that holds no scores (its error is shown instead).
    """
    if prediction.status == "error" or prediction.top is None:
        reason = prediction.error.message if prediction.error else "No reason was recorded."
        st.error(f"**This file could not be classified.** {plain(reason)}", icon=":material/error:")
        return None
    result = triage(prediction.scores, rule)
    scores = prediction.scores
    st.subheader(f"{result.level.title}: malignant classes {result.malignant_total:.0%}")
    driver = f"{NAMES[result.driver]} {scores[result.driver]:.0%}"
    if result.level is Level.REFER:
        st.error(
            f"**Refer.** The malignant classes total {result.malignant_total:.0%}, at or over "
            f"the referral threshold of {rule.refer_threshold:.0%} (strongest: {driver}). "
            f"{result.level.advice}",
            icon=":material/warning:",
        )
    elif result.level is Level.UNCERTAIN:
        st.warning(
            f"**Uncertain.** {rule.definition()} The malignant classes total "
            f"{result.malignant_total:.0%} (strongest: {driver}). {result.level.advice}",
            icon=":material/help:",
        )
    else:
        st.success(
            f"**No malignant signal.** The malignant classes total "
            f"{result.malignant_total:.0%}, under the referral threshold of "
            f"{rule.refer_threshold:.0%}. {result.level.advice}",
            icon=":material/info:",
        )
    top_line = f"Top class: **{class_label(result.top)}**, {scores[result.top]:.0%}"
    if result.malignant_runner_up is not None and result.level.needs_clinician:
        runner_up = result.malignant_runner_up
        top_line += f"; malignant runner-up: **{class_label(runner_up)}**, {scores[runner_up]:.0%}"
    st.markdown(top_line + ".")
    return result


def result_panel(
    prediction: Prediction, rule: TriageRule, picture: bytes | None, caption: str
) -> None:
    """One result as both Classify and Prediction show it: the verdict beside the image (above
    it on a phone: risk comes first), then the seven scores as rows, and as a table."""
    left, right = st.columns([2, 1])
    with left:
        verdict(prediction, rule)
    with right:
        if picture:
            st.image(picture, caption=caption, alt=caption)
    if prediction.status == "ok":
        st.subheader("All seven scores")
        score_rows(prediction)
        with st.expander("The seven scores as a table"):
            score_table(prediction)


def local_time(moment: datetime, zone: tzinfo) -> str:
    """A time in the reader's zone, with the zone named: ``29 Nov 2026, 10:13 CET``."""
    here = moment.astimezone(zone)
    name = here.tzname() or str(zone)
    return f"{here.day} {here:%b %Y, %H:%M} {name}"


def provenance_rows(prediction: Prediction, zone: tzinfo) -> list[tuple[str, str]]:
    """Where the result came from: model, image, timings and time, as (field, value)."""
    model = prediction.model
    image = prediction.image
    sha = image.sha256 if image else "-"
    return [
        ("Model", model.id),
        ("Model revision", model.revision or "a local copy (no Hub revision)"),
        ("Run by", model.backend + (f" endpoint {model.endpoint}" if model.endpoint else "")),
        ("Record schema version", str(prediction.schema_version)),
        ("Created", local_time(datetime.fromisoformat(prediction.created_at), zone)),
        # In groups of eight: a 64-digit string would not wrap on a phone.
        ("Image SHA-256", " ".join(sha[i : i + 8] for i in range(0, len(sha), 8))),
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
        ("Upload key", prediction.upload_key.replace("/", "/\u200b")),
    ]


def provenance(prediction: Prediction, zone: tzinfo) -> None:
    """The provenance as a list: it wraps on a phone, and has no scroll region to reach."""
    st.markdown(
        "\n".join(
            f"- **{field}:** {plain(value)}" for field, value in provenance_rows(prediction, zone)
        )
    )
