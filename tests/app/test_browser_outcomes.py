"""In Chromium at 1366x900: a clinician opens a result, records its confirmed diagnosis, and the
Performance page's count goes up by one; the Performance page has no serious accessibility
violation (axe-core)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from runtime.keys import new_id
from runtime.stores import LocalStore
from tests.app.conftest import ServedApp
from tests.app.test_browser_clinic import axe_violations
from tests.confirmed_cases import START, confirm, scores_with, store_prediction


def confirmed_count(page: Page) -> Locator:
    metric = page.get_by_test_id("stMetric").filter(has_text="Confirmed results")
    return metric.get_by_test_id("stMetricValue")


def test_recording_an_outcome_raises_the_performance_count_by_one(
    serve: ServedApp, page: Page, tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = tmp_path / "data"
    store = LocalStore(data)
    earlier, opened = new_id(START), new_id(START + timedelta(hours=1))
    store_prediction(store, "local", earlier, scores_with("mel", 0.8))
    confirm(store, "local", earlier, "mel")
    store_prediction(store, "local", opened, scores_with("nv", 0.7))
    page.set_viewport_size({"width": 1366, "height": 900})
    url = serve.start(
        {
            "DERMASCAN_BACKEND": "local",
            "DERMASCAN_MODEL": str(tiny_model_dir),
            "DERMASCAN_DATA_DIR": str(data),
        }
    )

    page.goto(f"{url}/performance")
    count = confirmed_count(page)
    expect(count).to_have_text("1", timeout=60_000)
    expect(page.get_by_text("Too few confirmed cases for reliable figures")).to_be_visible()
    page.wait_for_timeout(500)  # let the last rerun settle
    assert page.title() == "Performance · dermascan"
    assert axe_violations(page) == []

    page.goto(f"{url}/prediction?id={opened}")
    expect(page.get_by_role("heading", name="Confirmed outcome")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("No confirmed outcome has been recorded")).to_be_visible()
    page.get_by_label("Confirmed diagnosis").click()
    page.get_by_role("option", name="Melanocytic nevus (mole) (nv)").click()
    page.get_by_label("How it was confirmed").click()
    page.get_by_role("option", name="Follow-up").click()
    page.get_by_role("button", name="Record outcome").click()
    expect(page.get_by_text("The model agreed: its top class was the confirmed")).to_be_visible(
        timeout=30_000
    )

    page.goto(f"{url}/performance")
    expect(confirmed_count(page)).to_have_text("2", timeout=60_000)
