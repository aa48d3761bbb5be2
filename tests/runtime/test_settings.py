"""runtime.settings: the Lambda function's environment, read and checked once."""

from __future__ import annotations

import pytest

from runtime.classifiers import DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION
from runtime.settings import ConfigError, Settings

REQUIRED = {"BUCKET_NAME": "bucket", "ENDPOINT_NAME": "endpoint"}


def test_defaults_need_only_the_bucket_and_the_endpoint() -> None:
    settings = Settings.from_env(REQUIRED)
    assert (settings.bucket, settings.endpoint_name) == ("bucket", "endpoint")
    assert (settings.model_id, settings.model_revision) == (
        DEFAULT_MODEL_ID,
        DEFAULT_MODEL_REVISION,
    )
    assert settings.layout.uploads == "uploads/"
    assert settings.limits.max_bytes == 10 * 1024 * 1024


def test_every_setting_can_be_given() -> None:
    settings = Settings.from_env(
        {
            **REQUIRED,
            "MODEL_ID": "org/model",
            "MODEL_REVISION": "abc",
            "UPLOADS_PREFIX": "in/",
            "PREDICTIONS_PREFIX": "out/",
            "THUMBNAILS_PREFIX": "thumbs/",
            "MAX_IMAGE_BYTES": "1000",
            "MAX_IMAGE_PIXELS": "2000000",
            "INVOKE_MAX_ATTEMPTS": "2",
        }
    )
    assert (settings.model_id, settings.model_revision) == ("org/model", "abc")
    assert (settings.layout.uploads, settings.layout.predictions) == ("in/", "out/")
    assert (settings.limits.max_bytes, settings.limits.max_pixels) == (1000, 2_000_000)
    assert settings.invoke_max_attempts == 2


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ENDPOINT_NAME": "e"}, "BUCKET_NAME"),
        ({"BUCKET_NAME": "b", "ENDPOINT_NAME": " "}, "ENDPOINT_NAME"),
        ({**REQUIRED, "MAX_IMAGE_BYTES": "ten"}, "MAX_IMAGE_BYTES"),
        ({**REQUIRED, "MAX_IMAGE_PIXELS": "0"}, "MAX_IMAGE_PIXELS"),
        ({**REQUIRED, "PREDICTIONS_PREFIX": "uploads/results/"}, "PREFIX"),
    ],
)
def test_a_wrong_environment_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)
