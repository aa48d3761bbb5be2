"""History: this user's results, newest first, as cards that fit a phone; filtered and paged."""

from __future__ import annotations

import streamlit as st

from app import clinic
from app.backend import HistoryFilter, history, outcome_filter, status_label
from app.markup import plain
from app.outcome_widgets import confirmation_choice, history_outcome
from app.session import active_session, sign_in_configured, viewer_zone
from app.widgets import class_label, local_time, percent
from runtime.keys import id_time
from runtime.labels import CLASSES
from runtime.results import HistoryEntry
from runtime.triage import Level, triage

PAGE_SIZE = 50

backend, owner = active_session()
zone = viewer_zone()
st.header("History")
clinic.deletion_notice()

# --- search by case reference: that reference's timeline instead of the list ------------------
reference = clinic.reference_search()
if reference is not None:
    clinic.lesion_timeline(backend, owner, reference, zone)
    clinic.delete_all_section(backend, owner, signed_in=sign_in_configured())
    st.stop()

left, middle, right = st.columns([2, 2, 1], vertical_alignment="bottom")
levels = left.multiselect(
    "Triage",
    list(Level),
    format_func=lambda level: level.title,
    key="history_levels",
    help="The triage level each result is shown with. " + backend.rule.definition(),
)
classes = middle.multiselect("Top class", CLASSES, format_func=class_label, key="history_classes")
errors_only = right.toggle("Errors only", key="history_errors")
filters = HistoryFilter(frozenset(classes), frozenset(levels), errors_only)
listed = backend.outcome_keys(owner)  # which results are confirmed: listings, no reads
filters = outcome_filter(filters, confirmation_choice(), frozenset(listed))

# The cursors of the pages seen so far, and how many results came before each; a change of
# filters starts again at the newest.
if st.session_state.get("history_filters") != filters:
    st.session_state["history_filters"] = filters
    st.session_state["history_cursors"] = [None]
    st.session_state["history_before"] = [0]
cursors: list[str | None] = st.session_state["history_cursors"]
before: list[int] = st.session_state["history_before"]

page = history(
    backend, owner, limit=PAGE_SIZE, cursor=cursors[-1], filters=filters, thumbnails=True
)
# What this page's results were confirmed as: a read each, however many results are confirmed.
outcomes = backend.latest_outcomes(owner, listed=listed, only=[e.id for e in page.entries])


def card(entry: HistoryEntry) -> None:
    """One result: its triage and malignant total first, the top class, the time, the case
    reference, and a link that opens it; the model-input thumbnail beside it (below it on a
    phone)."""
    record = entry.prediction
    when = local_time(id_time(entry.id), zone)
    stamp = when  # the time, and the clinic's own reference as typed
    if record is not None and record.reference is not None:
        stamp += f"  \nReference: {plain(record.reference)}"
    with st.container(border=True):
        text, picture = st.columns([4, 1], vertical_alignment="center")
        with text:
            if record is not None and record.status == "ok":
                verdict = triage(record.scores, backend.rule)
                top = verdict.top
                st.markdown(
                    f"**{verdict.level.title}** · malignant classes "
                    f"**{percent(verdict.malignant_total)}**  \n"
                    f"Top class: {class_label(top)}, {percent(record.scores[top])}  \n{stamp}"
                )
                history_outcome(record, outcomes.get(entry.id), entry.id in listed)
            elif record is not None:
                reason = record.error.message if record.error else "No reason was recorded."
                st.markdown(f"**Not classified:** {plain(reason)}  \n{stamp}")
            elif entry.status == "unreadable":
                st.markdown(
                    f"**{status_label(entry).capitalize()}.** This result's record cannot be "
                    f"read (damaged, or written by another version of dermascan); the other "
                    f"results are not affected.  \n{when}"
                )
            else:
                st.markdown(f"**Being classified.** Its result will appear here.  \n{stamp}")
            if record is not None or entry.status == "unreadable":
                st.page_link(
                    "app_pages/prediction.py",
                    label="Open this result",
                    query_params={"id": entry.id},
                    icon=":material/open_in_new:",
                )
        with picture:
            if entry.thumbnail:
                st.image(
                    entry.thumbnail,
                    alt=f"The image of the result from {when}, as the model saw it",
                    width=96,
                )


if not page.entries:
    if filters.active:
        st.info(f"No matching results among the {page.scanned} looked at.")
    else:
        st.info("No results yet. Classify an image and it will be listed here.")
else:
    first = before[-1] + 1
    shown = "Matching results" if filters.active else "Results"
    st.markdown(
        f"{shown} {first} to {first + len(page.entries) - 1}, newest first; times in {plain(zone)}."
    )
    for entry in page.entries:
        card(entry)

newer, older = st.columns(2)
if len(cursors) > 1 and newer.button("Newer", icon=":material/arrow_back:", key="history_newer"):
    cursors.pop()
    before.pop()
    st.rerun()
if page.next_cursor is not None and older.button(
    "Older", icon=":material/arrow_forward:", key="history_older"
):
    cursors.append(page.next_cursor)
    before.append(before[-1] + len(page.entries))
    st.rerun()

# --- delete all of this owner's data ---------------------------------------------------------
clinic.delete_all_section(backend, owner, signed_in=sign_in_configured())
