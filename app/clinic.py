"""UI for a clinic's day beyond one result: case details at upload, the privacy notice, a
lesion's timeline, and deleting a result or all of one's data.

Pages call these; the rules (validation, the timeline, deletion) live in ``runtime``. Every
text a user typed reaches the page through ``app.markup.plain``.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Final

import streamlit as st

from app.backend import Backend
from app.markup import plain
from app.widgets import class_label, local_time, percent
from runtime.cases import MAX_NOTE, CaseDetails, InvalidCase, check_note, check_reference
from runtime.keys import KeyLayout, id_time
from runtime.labels import CLASSES
from runtime.records import Prediction
from runtime.timeline import TimelineEntry, timeline

DEFAULT_RETENTION: Final = "the stack's retention, 30 days by default"
_NOTICE_KEY: Final = "deletion_notice"


# --- upload: case details and the privacy notice ----------------------------------------------


def case_fields() -> CaseDetails | None:
    """The optional reference and note fields, each refusal shown under its field.

    Returns:
        The case details (empty when nothing was typed), or None while a field is refused.
    """
    reference = st.text_input(
        "Case reference (optional)",
        key="case_reference",
        max_chars=40,
        placeholder="for example P-1042/L2",
        help="Your own code for the patient or the lesion, to find its results together. "
        "Letters, digits, '.', '_', '/' and '-'. Never a name.",
    )
    refused = False
    try:
        if reference.strip():
            check_reference(reference)
    except InvalidCase as exc:
        st.error(plain(exc), icon=":material/error:")
        refused = True
    note = st.text_area(
        "Note (optional)",
        key="case_note",
        height=68,
        help=f"Up to {MAX_NOTE} characters, kept with the result. Never a name.",
    )
    try:
        check_note(note)
    except InvalidCase as exc:
        st.error(plain(exc), icon=":material/error:")
        refused = True
    return None if refused else CaseDetails.given(reference, note)


def privacy_notice(backend: Backend, signed_in: bool) -> None:
    """What is stored, where, for how long, and who can see it: said before anything is."""
    place = backend.data_place()
    if place.kind == "local":
        where = f"in the data directory {plain(place.where)} on the computer running dermascan"
        how_long = "until you delete it"
    elif place.kind == "aws":
        where = f"in the stack's S3 bucket {plain(place.where)}"
        retention = (
            f"{place.retention_days} days (the stack's retention)"
            if place.retention_days
            else DEFAULT_RETENTION
        )
        how_long = f"until you delete it, and at most {retention}; then it is deleted"
    else:
        where, how_long = f"in {plain(place.where)}", "until you delete it"
    who = (
        "**Only you** can see your results: they are kept apart by your sign-in."
        if signed_in
        else "**Everyone using this app shares one history**: nobody signs in, so anyone who "
        "opens it sees every result, yours included, and can delete them."
    )
    with st.container(border=True):
        st.markdown(
            "**Privacy.** Each image you classify is stored: the image itself, a 224x224 copy "
            "of it, its 7 scores, and the reference and note you give. "
            f"Where: {where}. How long: {how_long}. {who} "
            "Delete a result from its page, or all your data from History."
        )


def case_details(prediction: Prediction) -> None:
    """The reference and note kept with a result, as text."""
    if prediction.reference is None and prediction.note is None:
        return
    lines = []
    if prediction.reference is not None:
        lines.append(f"**Reference:** {plain(prediction.reference)}")
    if prediction.note is not None:
        lines.append(f"**Note:** {plain(prediction.note)}")
    st.markdown("  \n".join(lines))


# --- the timeline -----------------------------------------------------------------------------


TIMELINE_COLUMNS: Final = 2
"""Results side by side in the page's width; Streamlit stacks columns on a phone."""


def points(change: float) -> str:
    """A change in percentage points, signed: ``+12 pts``, ``-3 pts``, ``no change``."""
    rounded = round(change)
    return "no change" if rounded == 0 else f"{rounded:+d} pts"


def lesion_timeline(
    backend: Backend, owner: str, reference: str, zone: tzinfo, current: str | None = None
) -> None:
    """Every result filed under ``reference``, oldest first, each with the image the model saw,
    its triage, malignant total and each score's change since the result before it: side by
    side on a wide screen (left to right, then the next row), one under another on a phone."""
    records = backend.results_for_reference(owner, reference)
    if not records:
        st.info(f"No results are filed under the reference {plain(reference)}.")
        return
    filed = records[-1].reference or reference  # as the clinic wrote it, whatever was typed
    st.markdown(
        f"{len(records)} result{'s' if len(records) != 1 else ''} filed under "
        f"**{plain(filed)}**, oldest first; changes are in percentage points since the "
        f"result before; times in {plain(zone)}."
    )
    entries = timeline(records, backend.rule)
    pictures = backend.thumbnails(owner, [entry.prediction.id for entry in entries])
    for first in range(0, len(entries), TIMELINE_COLUMNS):
        row = entries[first : first + TIMELINE_COLUMNS]
        for number, (column, entry) in enumerate(
            zip(st.columns(TIMELINE_COLUMNS), row, strict=False), start=first + 1
        ):
            with column:
                _timeline_card(number, entry, zone, current, pictures[entry.prediction.id])


def _timeline_card(
    number: int, entry: TimelineEntry, zone: tzinfo, current: str | None, picture: bytes | None
) -> None:
    record = entry.prediction
    when = local_time(id_time(record.id), zone)
    this = " (this result)" if record.id == current else ""
    with st.container(border=True):
        if picture is not None:
            st.image(
                picture, alt=f"Result {number}, {when}: the image as the model saw it", width=160
            )
        if entry.triage is None:
            reason = record.error.message if record.error else "No reason was recorded."
            st.markdown(f"**{number}. {when}**{this}  \nNot classified: {plain(reason)}")
        else:
            total = percent(entry.triage.malignant_total)
            change = (
                "" if entry.malignant_change is None else f" ({points(entry.malignant_change)})"
            )
            rows = []
            for code in CLASSES:
                delta = "" if entry.changes is None else f" ({points(entry.changes[code])})"
                rows.append(f"- {class_label(code)}: {percent(record.scores[code])}{delta}")
            st.markdown(
                f"**{number}. {when}**{this}  \n**{entry.triage.level.title}** · malignant "
                f"classes **{total}**{change}\n\n" + "\n".join(rows)
            )
        if record.id != current:
            st.page_link(
                "app_pages/prediction.py",
                label=f"Open result {number}",
                query_params={"id": record.id},
                icon=":material/open_in_new:",
            )


def reference_search() -> str | None:
    """History's search by reference: the reference to show, or None (empty or refused)."""
    typed = st.text_input(
        "Find a case reference",
        key="history_reference",
        placeholder="for example P-1042/L2",
        help="Shows every result filed under this reference, oldest first (exact match, "
        "ignoring upper and lower case).",
    )
    if not typed.strip():
        return None
    try:
        return check_reference(typed)
    except InvalidCase as exc:
        st.error(plain(exc), icon=":material/error:")
        return None


# --- deletion ---------------------------------------------------------------------------------

_KINDS: Final = {
    "uploads": "the image",
    "thumbnails": "its 224x224 copy",
    "predictions": "the record with its scores",
    "cases": "the reference and note",
    "references": "its place in the reference's timeline",
    "explanations": "the explanation",
    "explain_requests": "the explanation request",
    "outcomes": "the confirmed outcomes",
}


def deleted_kinds(keys: list[str], layout: KeyLayout) -> str:
    """What a deletion removed, in words: ``the image, its 224x224 copy and ...``."""
    found = [
        words
        for name, words in _KINDS.items()
        if any(key.startswith(layout.prefixes()[name]) for key in keys)
    ]
    if len(found) <= 1:
        return "".join(found)
    return ", ".join(found[:-1]) + " and " + found[-1]


def delete_result_section(backend: Backend, owner: str, prediction_id: str, zone: tzinfo) -> None:
    """Delete this result, after an explicit confirmation; then History says what went."""
    st.subheader("Delete this result")
    st.markdown(
        "Deletes the image, its 224x224 copy, the record with its scores, the reference and "
        "note, and any explanation or confirmed outcome of it. This cannot be undone."
    )
    sure = st.checkbox("Yes, delete this result", key="confirm_delete_result")
    if st.button(
        "Delete this result",
        disabled=not sure,
        key="delete_result",
        icon=":material/delete:",
        help="Tick the box above first.",
    ):
        # A few seconds on AWS when the function is still at work on it (``RemotePipeline``).
        with st.spinner("Deleting..."):
            keys = backend.delete_result(owner, prediction_id)
        if keys:
            what = deleted_kinds(keys, backend.results.layout)
            st.session_state[_NOTICE_KEY] = (
                f"Deleted the result from {local_time(id_time(prediction_id), zone)}: "
                f"{what} ({len(keys)} files)."
            )
        else:
            st.session_state[_NOTICE_KEY] = "There was nothing left of that result to delete."
        st.session_state.pop("confirm_delete_result", None)
        st.switch_page("app_pages/history.py")


def delete_all_section(backend: Backend, owner: str, signed_in: bool) -> None:
    """Delete all of this owner's data, after an explicit confirmation."""
    st.subheader("Delete all my data")
    whose = (
        "every result of yours"
        if signed_in
        else "every result in this app: without sign-in, everyone using it shares one history, "
        "so this deletes theirs too"
    )
    st.markdown(
        f"Deletes {whose}: the images, their 224x224 copies, records, references and notes, "
        "explanations and confirmed outcomes. This cannot be undone."
    )
    sure = st.checkbox("Yes, delete all my data", key="confirm_delete_all")
    if st.button(
        "Delete all my data",
        disabled=not sure,
        key="delete_all",
        icon=":material/delete_forever:",
        help="Tick the box above first.",
    ):
        with st.spinner("Deleting..."):
            count = backend.delete_all(owner)
        st.session_state[_NOTICE_KEY] = (
            f"Deleted all your data: {count} files (images, copies, records and everything "
            "derived from them). Nothing of it is left."
            if count
            else "There was no data of yours to delete."
        )
        st.session_state.pop("confirm_delete_all", None)
        st.rerun()


def deletion_notice() -> None:
    """Say once what the last deletion removed."""
    notice = st.session_state.pop(_NOTICE_KEY, None)
    if notice:
        st.success(notice, icon=":material/delete:")
