"""Text that must reach the page as text: escaping for Streamlit's Markdown.

Streamlit renders Markdown in ``st.markdown``, alerts, captions, labels and help: links, images,
emphasis, colour directives (``:red[...]``) and LaTeX (``$...$``). Anything a user, a file, a
stored record or an error produced goes through ``plain`` first.
"""

from __future__ import annotations

import string

# CommonMark lets a backslash escape any ASCII punctuation character, and then it is only text.
_ESCAPES = {ord(c): "\\" + c for c in string.punctuation}


def plain(text: object) -> str:
    """``text`` as Markdown that renders exactly as the characters given, on one line."""
    return " ".join(str(text).split()).translate(_ESCAPES)
