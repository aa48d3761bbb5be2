"""History: this user's results, newest first, filtered and paged."""

from __future__ import annotations

import base64

import pandas as pd
import streamlit as st

from app.backend import HistoryFilter, history, status_label
from app.session import active_session
from app.widgets import class_label
from runtime.keys import id_time
from runtime.labels import CLASSES

PAGE_SIZE = 50

backend, owner = active_session()
st.header("History")

left, middle, right = st.columns([3, 1, 1], vertical_alignment="bottom")
classes = left.multiselect("Top class", CLASSES, format_func=class_label, key="history_classes")
malignant_only = middle.toggle("Malignant only", key="history_malignant")
errors_only = right.toggle("Errors only", key="history_errors")
filters = HistoryFilter(frozenset(classes), malignant_only, errors_only)

# The cursors of the pages seen so far; a change of filters starts again at the newest.
if st.session_state.get("history_filters") != filters:
    st.session_state["history_filters"] = filters
    st.session_state["history_cursors"] = [None]
cursors: list[str | None] = st.session_state["history_cursors"]

page = history(
    backend, owner, limit=PAGE_SIZE, cursor=cursors[-1], filters=filters, thumbnails=True
)

if not page.entries:
    if filters.active:
        st.info(f"No matching results among the {page.scanned} looked at.")
    else:
        st.info("No results yet. Classify an image and it will be listed here.")
else:
    rows = []
    for entry in page.entries:
        record = entry.prediction
        thumbnail = entry.thumbnail
        rows.append(
            {
                "Image": "data:image/jpeg;base64," + base64.b64encode(thumbnail).decode()
                if thumbnail
                else None,
                "Time (UTC)": id_time(entry.id).strftime("%Y-%m-%d %H:%M:%S"),
                "Top class": class_label(record.top) if record and record.top else "",
                "Confidence": record.scores[record.top] if record and record.top else None,
                "Status": status_label(entry),
                "Details": f"prediction?id={entry.id}",
            }
        )
    selection = st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="history_table",
        on_select="rerun",
        selection_mode="single-row",
        row_height=64,
        column_config={
            "Image": st.column_config.ImageColumn("Image", width="small"),
            "Confidence": st.column_config.ProgressColumn(
                "Confidence", format="percent", min_value=0.0, max_value=1.0
            ),
            "Details": st.column_config.LinkColumn("Details", display_text="Open"),
        },
    )
    chosen = selection.selection.rows if selection else []
    if chosen:
        st.switch_page("app_pages/prediction.py", query_params={"id": page.entries[chosen[0]].id})

newer, older = st.columns(2)
if len(cursors) > 1 and newer.button("Newer", icon=":material/arrow_back:", key="history_newer"):
    cursors.pop()
    st.rerun()
if page.next_cursor is not None and older.button(
    "Older", icon=":material/arrow_forward:", key="history_older"
):
    cursors.append(page.next_cursor)
    st.rerun()
