"""App test fixtures: AppTest on the real entry file, with the backend chosen by environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.session import shared_backend
from tests.conftest import REPO

ENTRY = str(REPO / "app" / "streamlit_app.py")


def new_app() -> AppTest:
    # The first run imports torch and loads the model: far slower than AppTest's default 3 s.
    return AppTest.from_file(ENTRY, default_timeout=120)


@pytest.fixture
def local_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model_dir: Path
) -> Iterator[Path]:
    """The local backend on a fresh data directory with the tiny model."""
    monkeypatch.setenv("DERMASCAN_BACKEND", "local")
    monkeypatch.setenv("DERMASCAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DERMASCAN_MODEL", str(tiny_model_dir))
    shared_backend.clear()  # the process-wide backend belongs to the previous test's data
    yield tmp_path / "data"
    shared_backend.clear()
