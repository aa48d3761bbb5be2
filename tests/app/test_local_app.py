"""The app on the local backend, driven by AppTest: classify, history, prediction, about."""

from __future__ import annotations

import io
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.session import shared_backend
from runtime.classifiers import TransformersClassifier
from runtime.images import prepare
from runtime.keys import KeyLayout, new_id
from runtime.labels import CLASSES, NAMES, code_for
from runtime.records import SCHEMA_VERSION, ErrorInfo, ModelInfo, Prediction, Timings
from runtime.stores import LocalStore
from runtime.triage import triage
from tests.app.conftest import new_app


def shown(markdown: object) -> str:
    """Markdown as a reader sees its text: backslash escapes (``app.markup.plain``) undone."""
    return re.sub(r"\\(.)", r"\1", str(markdown))


def texts(at: AppTest) -> str:
    """Everything the page says in markdown, headers, captions and alerts, as read."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.subheader]
    parts += [e.value for e in at.header] + [e.value for e in at.caption]
    for alerts in (at.info, at.warning, at.error, at.success):
        parts += [e.value for e in alerts]
    return "\n".join(shown(p) for p in parts)


def open_result(prediction_id: str) -> AppTest:
    """A fresh session on the Prediction page of ``prediction_id``, as a link opens it."""
    page = new_app()
    page.query_params["id"] = prediction_id
    page.switch_page("app_pages/prediction.py").run()
    assert not page.exception, page.exception
    return page


def classify_upload(at: AppTest, name: str, data: bytes, mime: str = "image/jpeg") -> AppTest:
    at.run()
    at.file_uploader(key="upload").upload(name, data, mime).run()
    assert not at.exception, at.exception
    return at


def opened_ids(at: AppTest) -> list[str]:
    """The results a History page offers to open, in the order shown."""
    return [
        link.proto.query_string.removeprefix("id=")
        for link in at.page_link
        if link.value == "Open this result"
    ]


def score_frame(at: AppTest) -> pd.DataFrame:
    for frame in at.dataframe:
        value = frame.value
        if list(value.columns) == ["Class", "Score", "Kind"]:
            return value
    raise AssertionError("no score table on the page")


def scores_table(at: AppTest) -> dict[str, float]:
    value = score_frame(at)
    return dict(zip(value["Class"], value["Score"], strict=True))


def test_every_page_carries_the_disclaimer_and_the_backend(local_env: Path) -> None:
    at = new_app()
    for page in ("app_pages/classify.py", "app_pages/history.py", "app_pages/about.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert "Decision support, not a diagnosis" in texts(at)
        assert "data: **local**" in texts(at)


def model_scores(model_dir: Path, image: bytes) -> dict[str, float]:
    """What the model itself gives the prepared image, asked without dermascan's classifier."""
    from PIL import Image
    from transformers import pipeline

    model = pipeline("image-classification", model=str(model_dir), device="cpu")
    picture = Image.open(io.BytesIO(prepare(image).jpeg)).convert("RGB")
    answer = model(picture, top_k=7)
    return {code_for(item["label"]): float(item["score"]) for item in answer}


def test_an_upload_shows_the_scores_the_model_gives_that_image_and_leads_with_risk(
    local_env: Path, sample_paths: dict[str, Path], tiny_model_dir: Path
) -> None:
    image = sample_paths["mel"].read_bytes()
    expected = model_scores(tiny_model_dir, image)
    at = classify_upload(new_app(), "lesion.jpg", image)

    shown = scores_table(at)
    assert shown == pytest.approx({f"{NAMES[c]} ({c})": expected[c] for c in CLASSES}, abs=1e-6)
    kinds = dict(zip(score_frame(at)["Class"], score_frame(at)["Kind"], strict=True))
    assert {label for label, kind in kinds.items() if kind == "Malignant"} == {
        f"{NAMES[c]} ({c})" for c in ("akiec", "bcc", "mel")
    }
    malignant = expected["akiec"] + expected["bcc"] + expected["mel"]
    level = triage(expected).level
    assert at.subheader[0].value == f"{level.title}: malignant classes {malignant:.0%}"
    top = max(expected, key=lambda code: expected[code])
    assert f"Top class: **{NAMES[top]} ({top})**, {expected[top]:.0%}" in texts(at)
    assert "Decision support, not a diagnosis" in texts(at)
    assert "is a benign class" not in texts(at)


def test_a_text_file_named_jpg_shows_the_runtimes_reason_not_a_traceback(
    local_env: Path,
) -> None:
    at = classify_upload(new_app(), "photo.jpg", b"this is a text file, not a photo")
    assert not at.exception
    assert "This file is not an image we can read" in texts(at)
    assert "Traceback" not in texts(at)


def test_history_lists_the_new_result_first(local_env: Path, sample_paths: dict[str, Path]) -> None:
    at = classify_upload(new_app(), "a.jpg", sample_paths["nv"].read_bytes())
    first_id = at.session_state["last_id"]
    at.file_uploader(key="upload").upload("b.jpg", sample_paths["bcc"].read_bytes()).run()
    newest_id = at.session_state["last_id"]
    assert newest_id != first_id

    at.switch_page("app_pages/history.py").run()
    assert not at.exception, at.exception
    assert opened_ids(at) == [newest_id, first_id]
    assert "Results 1 to 2, newest first; times in UTC." in texts(at)
    assert len(at.image) == 2  # each card's thumbnail


def test_an_unreadable_record_is_one_history_entry_and_its_page_says_so(
    local_env: Path, sample_paths: dict[str, Path]
) -> None:
    at = classify_upload(new_app(), "a.jpg", sample_paths["nv"].read_bytes())
    broken = at.session_state["last_id"]
    at.file_uploader(key="upload").upload("b.jpg", sample_paths["bcc"].read_bytes()).run()
    fine = at.session_state["last_id"]
    (local_env / f"predictions/local/{broken}.json").write_text('{"schema_version": 99}')

    at.switch_page("app_pages/history.py").run()
    assert not at.exception, at.exception
    assert opened_ids(at) == [fine, broken]
    assert "**Record unreadable.** This result's record cannot be read" in texts(at)

    page = new_app()
    page.query_params["id"] = broken
    page.switch_page("app_pages/prediction.py").run()
    assert not page.exception, page.exception
    assert "This result's record cannot be read" in texts(page)


def test_the_prediction_page_shows_provenance(
    local_env: Path, sample_paths: dict[str, Path], tiny_model_dir: Path
) -> None:
    at = classify_upload(new_app(), "a.jpg", sample_paths["df"].read_bytes())
    prediction_id = at.session_state["last_id"]

    page = new_app()
    page.query_params["id"] = prediction_id
    page.switch_page("app_pages/prediction.py").run()
    assert not page.exception, page.exception
    said = texts(page)
    fields = dict(re.findall(r"^- \*\*(.+?):\*\* (.*)$", said, flags=re.MULTILINE))
    assert fields["Model"] == str(tiny_model_dir)
    assert fields["Record schema version"] == str(SCHEMA_VERSION)
    assert len(fields["Image SHA-256"].replace(" ", "")) == 64
    assert fields["Image format"] == "JPEG 600x450"
    assert fields["Created"].endswith(" UTC")  # the reader's zone, named (UTC in AppTest)
    assert len(scores_table(page)) == 7


def test_an_unknown_id_says_so_and_a_malformed_one_is_refused_without_being_echoed(
    local_env: Path,
) -> None:
    at = new_app()
    at.query_params["id"] = "8204265000000aaaaaaaaaa"
    at.switch_page("app_pages/prediction.py").run()
    assert not at.exception, at.exception
    assert "No result with this id was found" in texts(at)

    crafted = (
        "[Your biopsy result is ready - sign in](https://evil.example) "
        "![x](https://evil.example/x.png) :red[**URGENT**]"
    )
    for bad in (crafted, "../../etc/passwd"):
        at.query_params["id"] = bad
        at.switch_page("app_pages/prediction.py").run()
        assert not at.exception, at.exception
        assert "the id in it is malformed" in texts(at)
        assert "evil.example" not in texts(at)
        assert "biopsy" not in texts(at)
        assert "etc/passwd" not in texts(at)


def test_a_bundled_sample_can_be_classified_without_an_upload(local_env: Path) -> None:
    at = new_app()
    at.run()
    options = at.selectbox(key="sample").options
    assert len(options) == 7
    at.selectbox(key="sample").select_index(0).run()
    at.button(key="classify_sample").click().run()
    assert not at.exception, at.exception
    assert len(scores_table(at)) == 7


def test_the_about_page_is_honest_about_accuracy(local_env: Path) -> None:
    at = new_app()
    at.switch_page("app_pages/about.py").run()
    said = texts(at)
    assert "96.95 % validation accuracy" in said  # the card's claim, with its source
    assert "huggingface.co/Anwarkh1/Skin_Cancer-Image_Classification" in said
    assert "arxiv.org/abs/2407.18554" in said  # every other figure has its source too
    assert "83 %" not in said  # no figure without a source
    assert "CC BY-NC 4.0" in said
    assert "doi:10.1038/sdata.2018.161" in said


def test_a_model_that_cannot_load_is_explained_and_the_upload_kept(
    local_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_jpeg: bytes
) -> None:
    empty = tmp_path / "no-model"
    empty.mkdir()
    monkeypatch.setenv("DERMASCAN_MODEL", str(empty))
    at = classify_upload(new_app(), "lesion.jpg", sample_jpeg)
    assert "The model could not run" in texts(at)
    assert "DERMASCAN_MODEL" in texts(at)
    at.switch_page("app_pages/history.py").run()
    assert "Being classified." in texts(at)  # kept, to be classified once fixed
    assert opened_ids(at) == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [("DERMASCAN_WORKERS", "x"), ("DERMASCAN_BACKEND", "cloud"), ("DERMASCAN_BACKEND", "aws")],
)
def test_a_bad_setting_is_one_line_naming_the_variable_not_a_traceback(
    local_env: Path, monkeypatch: pytest.MonkeyPatch, setting: str, value: str
) -> None:
    monkeypatch.setenv(setting, value)
    monkeypatch.delenv("DERMASCAN_BUCKET", raising=False)
    at = new_app()
    at.run()
    assert not at.exception, at.exception
    (error,) = at.error
    message = shown(error.value)
    assert message.startswith("dermascan is not configured: ")
    assert f"{'DERMASCAN_BUCKET' if value == 'aws' else setting} must be" in message
    assert "\n" not in message
    assert not at.file_uploader  # nothing else runs on a broken configuration

    monkeypatch.delenv(setting)  # fixed: the next run starts normally
    at.run()
    assert not at.exception, at.exception
    assert not at.error
    assert at.file_uploader


def test_the_model_loads_at_start_and_the_page_says_so_until_it_is_ready(
    local_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    release = threading.Event()
    build = TransformersClassifier._build_pipeline

    def slow_build(self: TransformersClassifier) -> object:
        release.wait(timeout=60)  # the model takes its time, as the real one does on first use
        return build(self)

    monkeypatch.setattr(TransformersClassifier, "_build_pipeline", slow_build)
    at = new_app()
    at.run()
    assert not at.exception, at.exception
    assert "Loading the model. You can upload now" in texts(at)

    release.set()
    backend = shared_backend()
    deadline = time.monotonic() + 30
    while backend.model_status().state != "ready" and time.monotonic() < deadline:
        time.sleep(0.05)
    at.run()
    assert "Loading the model" not in texts(at)


def test_a_model_that_is_not_cached_yet_is_said_to_be_downloading(
    local_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("DERMASCAN_MODEL", "someone/not-downloaded-yet")
    release = threading.Event()
    monkeypatch.setattr(
        TransformersClassifier, "_build_pipeline", lambda self: release.wait(timeout=60)
    )
    at = new_app()
    at.run()
    release.set()
    assert not at.exception, at.exception
    assert "Downloading the model (about 350 MB) from the Hugging Face Hub" in texts(at)


def test_a_stored_error_message_is_shown_as_text_never_as_markup(local_env: Path) -> None:
    store = LocalStore(local_env)
    layout = KeyLayout()
    prediction_id = new_id()
    key = layout.upload_key("local", prediction_id, "bin")
    store.put(key, b"x", "application/octet-stream")
    hostile = "[Sign in again](https://evil.example) ![x](https://evil.example/x.png) :red[**!**]"
    record = Prediction.failed(
        id=prediction_id,
        owner="local",
        upload_key=key,
        error=ErrorInfo("corrupt", hostile),
        model=ModelInfo(id="m", revision=None, backend="transformers"),
        image=None,
        timings_ms=Timings(0.0, 0.0, 0.0),
        created_at=datetime.now(UTC),
    )
    store.put(layout.prediction_key("local", prediction_id), record.to_json().encode(), "x")
    at = new_app()
    at.query_params["id"] = prediction_id
    at.switch_page("app_pages/prediction.py").run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert "](" not in error.value.replace("\\](", "")  # no Markdown link or image survives
    assert hostile in shown(error.value)  # the words are all there, as text
