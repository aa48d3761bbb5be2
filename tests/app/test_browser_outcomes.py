"""In Chromium at 1366x900: a clinician opens a result, asks where the model looked and sees the
map over the model input, records the confirmed diagnosis, and the Performance page's count goes
up by one; neither page has a serious accessibility violation (axe-core)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from runtime.images import prepare
from runtime.keys import KeyLayout, new_id
from runtime.stores import LocalStore
from tests.app.conftest import ServedApp, idle
from tests.app.test_browser_clinic import axe_violations
from tests.confirmed_cases import START, confirm, scores_with, store_prediction


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the select box ``label``. A click that lands while the page is being
    redrawn focuses the box without opening its list: then it is clicked again."""
    for _ in range(3):
        page.get_by_label(label).click()
        try:
            page.get_by_role("option", name=option).click(timeout=3_000)
        except PlaywrightTimeout:
            continue
        return
    raise AssertionError(f"the list of {label!r} never offered {option!r}")


def confirmed_count(page: Page) -> Locator:
    metric = page.get_by_test_id("stMetric").filter(has_text="Confirmed results")
    return metric.get_by_test_id("stMetricValue")


def test_explaining_then_recording_an_outcome_raises_the_performance_count_by_one(
    serve: ServedApp,
    page: Page,
    tmp_path: Path,
    tiny_model_dir: Path,
    sample_paths: dict[str, Path],
) -> None:
    data = tmp_path / "data"
    store = LocalStore(data)
    earlier, opened = new_id(START), new_id(START + timedelta(hours=1))
    store_prediction(store, "local", earlier, scores_with("mel", 0.8))
    confirm(store, "local", earlier, "mel")
    store_prediction(store, "local", opened, scores_with("nv", 0.7))
    model_input = prepare(sample_paths["nv"].read_bytes()).jpeg  # what the pipeline keeps
    store.put(KeyLayout().thumbnail_key("local", opened), model_input, "image/jpeg")
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
    page.get_by_role("button", name="Show where the model looked").click(timeout=60_000)
    overlay = page.get_by_role("img", name="The model input with red squares over the regions")
    expect(overlay).to_be_visible(timeout=120_000)  # computed by the local worker
    expect(page.get_by_text("not a diagnosis and not a segmentation")).to_be_visible()
    expect(page.get_by_role("slider", name="Opacity of the map")).to_be_visible()
    idle(page)
    assert axe_violations(page) == []
    expect(page.get_by_role("heading", name="Confirmed outcome")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("No confirmed outcome has been recorded")).to_be_visible()
    choose(page, "Confirmed diagnosis", "Melanocytic nevus (mole) (nv)")
    choose(page, "How it was confirmed", "Follow-up")
    page.get_by_role("button", name="Record outcome").click()
    expect(page.get_by_text("The model agreed: its top class was the confirmed")).to_be_visible(
        timeout=30_000
    )

    page.goto(f"{url}/performance")
    expect(confirmed_count(page)).to_have_text("2", timeout=60_000)


def test_the_explanation_fits_a_phone(
    serve: ServedApp,
    page: Page,
    tmp_path: Path,
    tiny_model_dir: Path,
    sample_paths: dict[str, Path],
) -> None:
    """At 390x844 the map over the model input lies inside the screen, not cut at its edge."""
    data = tmp_path / "data"
    store = LocalStore(data)
    opened = new_id()
    store_prediction(store, "local", opened, scores_with("nv", 0.7))
    model_input = prepare(sample_paths["nv"].read_bytes()).jpeg
    store.put(KeyLayout().thumbnail_key("local", opened), model_input, "image/jpeg")
    page.set_viewport_size({"width": 390, "height": 844})
    url = serve.start(
        {
            "DERMASCAN_BACKEND": "local",
            "DERMASCAN_MODEL": str(tiny_model_dir),
            "DERMASCAN_DATA_DIR": str(data),
        }
    )
    page.goto(f"{url}/prediction?id={opened}")
    page.get_by_role("button", name="Show where the model looked").click(timeout=60_000)
    overlay = page.get_by_role("img", name="The model input with red squares over the regions")
    expect(overlay).to_be_visible(timeout=120_000)
    idle(page)
    box = overlay.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    assert box["width"] >= 300  # and large enough to see, not the 224 px input
