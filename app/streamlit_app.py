"""The app's frame: navigation over app_pages/, and what every page shows above its content."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.markup import plain
from app.session import current_owner, shared_backend, sign_in_configured
from app.widgets import DISCLAIMER
from runtime.settings import ConfigError

# A bundled favicon: a Material icon here would be fetched from Google's font servers.
st.set_page_config(page_title="dermascan", page_icon=str(Path(__file__).with_name("favicon.png")))

page = st.navigation(
    [
        st.Page(
            "app_pages/classify.py", title="Classify", icon=":material/add_a_photo:", default=True
        ),
        st.Page("app_pages/history.py", title="History", icon=":material/history:"),
        st.Page("app_pages/performance.py", title="Performance", icon=":material/monitoring:"),
        # Reached with an id only (from a result or History), so not in the menu.
        st.Page(
            "app_pages/prediction.py",
            title="Prediction",
            icon=":material/insights:",
            visibility="hidden",
        ),
        st.Page("app_pages/about.py", title="About", icon=":material/info:"),
    ],
    position="top",
)
# Each page its own title (read first by screen readers, and in the browser's tab).
st.set_page_config(page_title=f"{page.title} · dermascan")

try:
    backend = shared_backend()
except ConfigError as exc:
    # One line naming the variable; the value came from whoever set it, so it is shown as text.
    st.error(f"dermascan is not configured: {plain(exc)}", icon=":material/settings:")
    st.stop()

st.caption(f"dermascan · skin-lesion triage support · data: **{plain(backend.label)}**")
st.info(DISCLAIMER, icon=":material/medical_information:")

if sign_in_configured():
    if not st.user.is_logged_in:
        st.write("Sign in to classify images and see your own history.")
        st.button("Sign in", on_click=st.login, type="primary")
        if page.title != "About":
            st.stop()
    elif current_owner(backend) is None:
        # Without an issuer and a subject there is no owner to keep this person's data apart
        # from anyone else's, so no page that shows or stores data runs.
        st.warning(
            "Your identity provider did not say who you are (the sign-in carried no issuer or "
            "no subject), so dermascan cannot keep your data apart from anyone else's. Sign "
            "out, and ask whoever runs dermascan to check its sign-in settings.",
            icon=":material/no_accounts:",
        )
        st.button("Sign out", on_click=st.logout)
        if page.title != "About":
            st.stop()
    else:
        with st.sidebar:
            who = st.user.get("email") or st.user.get("name") or "you"
            st.write(f"Signed in as {plain(who)}")  # the identity provider's words, as text
            st.button("Sign out", on_click=st.logout)

page.run()
