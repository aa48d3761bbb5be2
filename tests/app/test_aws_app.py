"""The app on the AWS backend: a moto server, and a worker running runtime.handler on the queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.images import prepare
from runtime.labels import NAMES
from tests.app.conftest import QueueWorker, new_app
from tests.app.test_local_app import classify_upload, opened_ids, scores_table, texts
from tests.aws import (
    LABEL_CODES,
    endpoint_scores,
)


def test_submit_then_the_lambdas_record_appears_and_is_shown(
    worker: QueueWorker, sample_paths: dict[str, Path]
) -> None:
    upload = sample_paths["mel"].read_bytes()
    at = classify_upload(new_app(), "lesion.jpg", upload)
    assert "data: **AWS test**" in texts(at)
    scores = scores_table(at)
    assert len(scores) == 7
    assert sum(scores.values()) == pytest.approx(1.0)
    # What the endpoint answered for this very image reached the page, every class of it.
    expected = {LABEL_CODES[k]: v for k, v in endpoint_scores(prepare(upload).jpeg).items()}
    top = max(expected, key=lambda code: expected[code])
    assert f"Top class: **{NAMES[top]} ({top})**" in texts(at)
    assert scores == pytest.approx({f"{NAMES[c]} ({c})": v for c, v in expected.items()})

    at.switch_page("app_pages/history.py").run()
    assert len(opened_ids(at)) == 1


def test_a_record_that_never_arrives_ends_in_the_timeout_message(
    stack: str, monkeypatch: pytest.MonkeyPatch, sample_paths: dict[str, Path]
) -> None:
    monkeypatch.setenv("DERMASCAN_RESULT_TIMEOUT", "1")  # and no worker: nothing will answer
    at = classify_upload(new_app(), "lesion.jpg", sample_paths["nv"].read_bytes())
    assert "No result after 1 seconds" in texts(at)
    assert "cold start" in texts(at)

    at.switch_page("app_pages/history.py").run()
    assert "Being classified." in texts(at)  # the upload is safe, and listed
