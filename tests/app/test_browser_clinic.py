"""The app on a phone and a laptop screen: everything that matters in view, accessible to all.

Each page is read at 390x844 (a phone) and 1366x900 (a laptop) in Chromium. axe-core (pinned in
package-lock.json) checks every page; the class names, their percentages and the triage are
checked to lie inside the viewport's width, so nothing needs a horizontal scroll.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from runtime.labels import CLASSES, NAMES
from runtime.records import Prediction
from tests.app.conftest import ServedApp, choose_file
from tests.conftest import REPO

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": (390, 844), "laptop": (1366, 900)}


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's critical and serious violations on the page as it is now."""
    assert AXE.is_file(), "axe-core is missing: make test installs it (npm ci)"
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run()).violations
            .filter(v => v.impact === "critical" || v.impact === "serious")
            .map(v => ({id: v.id, impact: v.impact,
                        targets: v.nodes.map(n => n.target.join(" "))}))"""
    )
    return found


def within_width(page: Page, text: str) -> None:
    """The first element showing ``text`` is visible and inside the viewport's width."""
    element = page.get_by_text(text, exact=False).first
    expect(element).to_be_visible()
    box = element.bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box is not None, text
    assert box["x"] >= 0, (text, box)
    assert box["x"] + box["width"] <= width + 0.5, (text, box, width)


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.evaluate("() => window.innerWidth"), "the page scrolls sideways"


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_page_fits_the_screen_and_has_no_serious_accessibility_violation(
    serve: ServedApp,
    page: Page,
    tmp_path: Path,
    tiny_model_dir: Path,
    sample_paths: dict[str, Path],
    viewport: str,
) -> None:
    width, height = VIEWPORTS[viewport]
    page.set_viewport_size({"width": width, "height": height})
    url = serve.start(
        {
            "DERMASCAN_BACKEND": "local",
            "DERMASCAN_MODEL": str(tiny_model_dir),
            "DERMASCAN_DATA_DIR": str(tmp_path / "data"),
        }
    )
    page.goto(url)
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=60_000)
    choose_file(page, sample_paths["bcc"], on_fresh_page=lambda: None)
    details = page.get_by_role("link", name="Details and provenance")
    expect(details).to_be_visible(timeout=120_000)
    prediction_url = details.get_attribute("href") or ""

    def check(name: str, *texts: str) -> None:
        page.wait_for_timeout(500)  # let the last rerun settle
        no_horizontal_scroll(page)
        for text in texts:
            within_width(page, text)
        assert axe_violations(page) == [], name
        assert page.title() == f"{name} · dermascan"

    scores = [f"{NAMES[code]} ({code})" for code in CLASSES]
    check("Classify", "malignant classes", *scores)
    for code in CLASSES:  # each row carries its percentage as text
        row = page.locator('[data-testid="stProgress"]', has_text=f"{NAMES[code]} ({code})")
        expect(row).to_contain_text(re.compile(r"(<1|>99|\d{1,3})%"))

    page.goto(prediction_url if prediction_url.startswith("http") else f"{url}/{prediction_url}")
    expect(page.get_by_role("heading", name="Provenance")).to_be_visible(timeout=60_000)
    check("Prediction", "malignant classes", *scores, "Image SHA-256")

    page.goto(f"{url}/history")
    expect(page.get_by_text("Open this result")).to_be_visible(timeout=60_000)
    check("History", "malignant classes", "Top class:", "Open this result")

    page.goto(f"{url}/about")
    expect(page.get_by_role("heading", name="About dermascan")).to_be_visible(timeout=60_000)
    check("About", "Melanoma (mel)", "Dermatofibroma (df)")


def test_axe_finds_an_image_without_alt_text(serve: ServedApp, page: Page, tmp_path: Path) -> None:
    """The accessibility check can fail: an image planted without alt text is reported."""
    url = serve.start({"DERMASCAN_BACKEND": "local", "DERMASCAN_DATA_DIR": str(tmp_path)})
    page.goto(f"{url}/about")
    expect(page.get_by_role("heading", name="About dermascan")).to_be_visible(timeout=60_000)
    assert axe_violations(page) == []
    page.evaluate(
        """() => { const img = document.createElement("img");
                   img.src = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
                   document.querySelector('[data-testid="stMain"]').appendChild(img); }"""
    )
    assert [v["id"] for v in axe_violations(page)] == ["image-alt"]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def test_the_printable_report_and_the_record_download_with_what_a_clinic_files(
    serve: ServedApp,
    page: Page,
    tmp_path: Path,
    tiny_model_dir: Path,
    sample_paths: dict[str, Path],
) -> None:
    url = serve.start(
        {
            "DERMASCAN_BACKEND": "local",
            "DERMASCAN_MODEL": str(tiny_model_dir),
            "DERMASCAN_DATA_DIR": str(tmp_path / "data"),
        }
    )
    page.goto(url)
    expect(page.get_by_text("Classify a dermatoscopic image")).to_be_visible(timeout=60_000)
    choose_file(page, sample_paths["mel"], on_fresh_page=lambda: None)
    details = page.get_by_role("link", name="Details and provenance")
    expect(details).to_be_visible(timeout=120_000)
    details.click()
    expect(page.get_by_role("heading", name="Provenance")).to_be_visible(timeout=60_000)
    heading = page.get_by_role("heading", name=re.compile("malignant classes")).inner_text()

    with page.expect_download() as download:
        page.get_by_role("button", name="Printable report (HTML)").click()
    saved = tmp_path / "report.html"
    download.value.save_as(saved)
    parser = _Text()
    parser.feed(saved.read_text(encoding="utf-8"))
    text = " ".join(" ".join(parser.parts).split())

    level, _, total = heading.partition(": malignant classes ")
    assert f"Triage: {level}; malignant classes {total}" in text
    for code in CLASSES:
        assert re.search(rf"{re.escape(NAMES[code])} \({code}\) (yes|no) \d+\.\d%", text), code
    assert f"Model {tiny_model_dir}" in text
    assert "Model revision a local copy (no Hub revision)" in text
    assert text.count("Decision support, not a diagnosis.") == 2
    assert "<img" in saved.read_text(encoding="utf-8")

    with page.expect_download() as download:
        page.get_by_role("button", name="The record (JSON)").click()
    record = Prediction.from_json(Path(download.value.path()).read_bytes())
    prediction_id = page.url.rpartition("id=")[2]
    stored = (tmp_path / "data" / "predictions" / "local" / f"{prediction_id}.json").read_bytes()
    assert record == Prediction.from_json(stored)
