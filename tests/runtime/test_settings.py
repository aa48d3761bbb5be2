"""runtime.settings: every entry point's environment, read once, with one error that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.classifiers import DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION
from runtime.keys import KeyLayout
from runtime.settings import (
    AppSettings,
    ConfigError,
    FunctionSettings,
    LocalSettings,
    RemoteSettings,
)
from runtime.submission import DEFAULT_RESULT_TIMEOUT

REQUIRED = {"BUCKET_NAME": "bucket", "ENDPOINT_NAME": "endpoint"}


def test_the_function_needs_only_the_bucket_and_the_endpoint() -> None:
    settings = FunctionSettings.from_env(REQUIRED)
    assert (settings.bucket, settings.endpoint_name) == ("bucket", "endpoint")
    assert (settings.model_id, settings.model_revision) == (
        DEFAULT_MODEL_ID,
        DEFAULT_MODEL_REVISION,
    )
    assert settings.layout == KeyLayout()
    assert settings.limits.max_bytes == 10 * 1024 * 1024
    assert (settings.invoke_max_attempts, settings.invoke_read_timeout) == (4, 60.0)


def test_every_function_setting_can_be_given() -> None:
    settings = FunctionSettings.from_env(
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
            "INVOKE_READ_TIMEOUT_SECONDS": "12.5",
        }
    )
    assert (settings.model_id, settings.model_revision) == ("org/model", "abc")
    assert settings.layout == KeyLayout(uploads="in/", predictions="out/", thumbnails="thumbs/")
    assert (settings.limits.max_bytes, settings.limits.max_pixels) == (1000, 2_000_000)
    assert settings.invoke_max_attempts == 2
    assert settings.invoke_read_timeout == 12.5


def test_the_function_reads_the_layout_the_stack_writes() -> None:
    layout = KeyLayout(uploads="in/", predictions="out/", thumbnails="thumbs/")
    assert FunctionSettings.from_env({**REQUIRED, **layout.environment()}).layout == layout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ENDPOINT_NAME": "e"}, "BUCKET_NAME"),
        ({"BUCKET_NAME": "b", "ENDPOINT_NAME": " "}, "ENDPOINT_NAME"),
        ({**REQUIRED, "MAX_IMAGE_BYTES": "ten"}, "MAX_IMAGE_BYTES"),
        ({**REQUIRED, "MAX_IMAGE_PIXELS": "0"}, "MAX_IMAGE_PIXELS"),
        ({**REQUIRED, "INVOKE_READ_TIMEOUT_SECONDS": "-1"}, "INVOKE_READ_TIMEOUT_SECONDS"),
        ({**REQUIRED, "PREDICTIONS_PREFIX": "uploads/results/"}, "PREDICTIONS_PREFIX"),
    ],
)
def test_a_wrong_function_environment_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        FunctionSettings.from_env(env)


def test_local_defaults() -> None:
    assert LocalSettings.from_env({}) == LocalSettings(
        data_dir=Path(".dermascan"),
        model=DEFAULT_MODEL_ID,
        model_revision=DEFAULT_MODEL_REVISION,
        workers=1,
        result_timeout=DEFAULT_RESULT_TIMEOUT,
    )


def test_every_local_setting_can_be_given() -> None:
    settings = LocalSettings.from_env(
        {
            "DERMASCAN_DATA_DIR": "/data",
            "DERMASCAN_MODEL": "/models/vit",
            "DERMASCAN_MODEL_REVISION": "abc",
            "DERMASCAN_WORKERS": "3",
            "DERMASCAN_RESULT_TIMEOUT": "2.5",
        }
    )
    assert settings == LocalSettings(Path("/data"), "/models/vit", "abc", 3, 2.5)


@pytest.mark.parametrize(
    ("env", "variable", "expected"),
    [
        ({"DERMASCAN_WORKERS": "x"}, "DERMASCAN_WORKERS", "a whole number of at least 1"),
        ({"DERMASCAN_WORKERS": "0"}, "DERMASCAN_WORKERS", "a whole number of at least 1"),
        ({"DERMASCAN_WORKERS": "-2"}, "DERMASCAN_WORKERS", "a whole number of at least 1"),
        ({"DERMASCAN_RESULT_TIMEOUT": "soon"}, "DERMASCAN_RESULT_TIMEOUT", "a positive number"),
        ({"DERMASCAN_RESULT_TIMEOUT": "-1"}, "DERMASCAN_RESULT_TIMEOUT", "a positive number"),
        ({"DERMASCAN_RESULT_TIMEOUT": "nan"}, "DERMASCAN_RESULT_TIMEOUT", "a positive number"),
        ({"DERMASCAN_RESULT_TIMEOUT": "inf"}, "DERMASCAN_RESULT_TIMEOUT", "a positive number"),
    ],
)
def test_a_wrong_local_setting_is_one_error_naming_the_variable_and_what_it_expects(
    env: dict[str, str], variable: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        LocalSettings.from_env(env)
    assert raised.value.variable == variable
    message = str(raised.value)
    assert message.startswith(f"{variable} must be {expected}")
    assert repr(env[variable]) in message
    assert "\n" not in message


def test_the_app_chooses_its_backend() -> None:
    assert AppSettings.from_env({}).backend == "local"
    aws = AppSettings.from_env(
        {"DERMASCAN_BACKEND": "AWS", "DERMASCAN_BUCKET": "b", "DERMASCAN_STACK": "prod"}
    )
    assert aws == AppSettings(backend="aws", remote=RemoteSettings("b", "prod"))


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DERMASCAN_BACKEND": "aws"}, "DERMASCAN_BUCKET"),
        ({"DERMASCAN_BACKEND": "cloud"}, "DERMASCAN_BACKEND"),
        ({"DERMASCAN_WORKERS": "x"}, "DERMASCAN_WORKERS"),
        (
            {"DERMASCAN_BACKEND": "aws", "DERMASCAN_BUCKET": "b", "DERMASCAN_RESULT_TIMEOUT": "0"},
            "DERMASCAN_RESULT_TIMEOUT",
        ),
    ],
)
def test_a_wrong_app_environment_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        AppSettings.from_env(env)
    assert raised.value.variable == variable


def test_a_missing_bucket_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match=r"pulumi stack output appEnv.*it is not set"):
        RemoteSettings.from_env({})
