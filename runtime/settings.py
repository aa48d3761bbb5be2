"""Every entry point's settings, read once from the environment through one error type.

The Lambda function (``FunctionSettings``), the local pipeline and the CLI (``LocalSettings``),
the AWS client side of the app and the CLI (``RemoteSettings``) and the app's choice between
them (``AppSettings``) all read here. A missing or malformed variable is a ``ConfigError`` that
names the variable and what it expects: the app shows it as one line, the CLI exits 2 with it,
and the function fails its start with it in the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from runtime.classifiers import DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION
from runtime.formats import DEFAULT_MAX_BYTES
from runtime.images import DEFAULT_MAX_PIXELS, ImageLimits
from runtime.keys import KeyLayout
from runtime.submission import DEFAULT_RESULT_TIMEOUT
from runtime.triage import (
    DEFAULT_REFER_THRESHOLD,
    DEFAULT_UNCERTAIN_MARGIN,
    DEFAULT_UNCERTAIN_TOP,
    TriageRule,
)

DEFAULT_DATA_DIR: Final = ".dermascan"
DEFAULT_INVOKE_MAX_ATTEMPTS: Final = 4
DEFAULT_INVOKE_READ_TIMEOUT_SECONDS: Final = 60.0
"""SageMaker's own limit for a model's answer."""

Backend = Literal["local", "aws"]


class ConfigError(ValueError):
    """A setting that is missing or malformed.

    Attributes:
        variable: the environment variable (or variables) at fault.
        expected: what it must be, in words.
    """

    def __init__(self, variable: str, expected: str, got: str | None = None) -> None:
        found = "it is not set" if got is None else f"got {got!r}"
        super().__init__(f"{variable} must be {expected}; {found}.")
        self.variable = variable
        self.expected = expected


class _Environment:
    """Typed reads of one environment mapping; every failure is a ``ConfigError``."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        return self._env.get(name, "").strip() or default

    def optional(self, name: str) -> str | None:
        return self._env.get(name, "").strip() or None

    def required(self, name: str, expected: str) -> str:
        value = self._env.get(name, "").strip()
        if not value:
            raise ConfigError(name, expected, None if name not in self._env else value)
        return value

    def positive_int(self, name: str, default: int) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(name, "a whole number of at least 1", raw)
        return int(raw)

    def positive_seconds(self, name: str, default: float) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf"):
            raise ConfigError(name, "a positive number of seconds", raw)
        return value

    def fraction(self, name: str, default: float) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0 < value < 1:
            raise ConfigError(name, "a fraction between 0 and 1, such as 0.25", raw)
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(name, " or ".join(repr(c) for c in choices), self._env.get(name))
        return value


@dataclass(frozen=True)
class FunctionSettings:
    """What the Lambda function needs to know about its deployment."""

    bucket: str
    endpoint_name: str
    model_id: str = DEFAULT_MODEL_ID
    model_revision: str | None = DEFAULT_MODEL_REVISION
    layout: KeyLayout = field(default_factory=KeyLayout)
    limits: ImageLimits = field(default_factory=ImageLimits)
    invoke_max_attempts: int = DEFAULT_INVOKE_MAX_ATTEMPTS
    """Attempts per endpoint call, retries included (botocore's budget)."""
    invoke_read_timeout: float = DEFAULT_INVOKE_READ_TIMEOUT_SECONDS
    """Seconds one attempt waits for the endpoint's answer."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FunctionSettings:
        """Read the function's environment, as the stack's ``Compute`` component writes it.

        Required: ``BUCKET_NAME``, ``ENDPOINT_NAME``. Optional: ``MODEL_ID``,
        ``MODEL_REVISION``, the layout's ``*_PREFIX`` variables (``KeyLayout.environment``),
        ``MAX_IMAGE_BYTES``, ``MAX_IMAGE_PIXELS``, ``INVOKE_MAX_ATTEMPTS``,
        ``INVOKE_READ_TIMEOUT_SECONDS``.

        Raises:
            ConfigError: naming the variable that is missing or wrong.
        """
        read = _Environment(env)
        try:
            layout = KeyLayout.from_environment(env)
        except ValueError as exc:
            names = ", ".join(KeyLayout().environment())
            raise ConfigError(names, f"non-nesting prefixes like 'name/' ({exc})") from None
        return cls(
            bucket=read.required("BUCKET_NAME", "the stack's bucket name"),
            endpoint_name=read.required("ENDPOINT_NAME", "the SageMaker endpoint's name"),
            model_id=read.text("MODEL_ID", DEFAULT_MODEL_ID),
            model_revision=read.text("MODEL_REVISION", DEFAULT_MODEL_REVISION),
            layout=layout,
            limits=ImageLimits(
                max_bytes=read.positive_int("MAX_IMAGE_BYTES", DEFAULT_MAX_BYTES),
                max_pixels=read.positive_int("MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS),
            ),
            invoke_max_attempts=read.positive_int(
                "INVOKE_MAX_ATTEMPTS", DEFAULT_INVOKE_MAX_ATTEMPTS
            ),
            invoke_read_timeout=read.positive_seconds(
                "INVOKE_READ_TIMEOUT_SECONDS", DEFAULT_INVOKE_READ_TIMEOUT_SECONDS
            ),
        )


@dataclass(frozen=True)
class LocalSettings:
    """The pipeline on this machine: where data lives, which model runs, how many workers."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    model: str = DEFAULT_MODEL_ID
    """A Hub model id, or the directory of a saved model."""
    model_revision: str | None = DEFAULT_MODEL_REVISION
    workers: int = 1
    result_timeout: float = DEFAULT_RESULT_TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LocalSettings:
        """``DERMASCAN_DATA_DIR`` (default ``./.dermascan``), ``DERMASCAN_MODEL`` (default the
        pinned HAM10000 ViT), ``DERMASCAN_MODEL_REVISION``, ``DERMASCAN_WORKERS`` (default 1:
        the model already uses every core), ``DERMASCAN_RESULT_TIMEOUT`` (seconds).

        Raises:
            ConfigError: naming the variable that is wrong.
        """
        read = _Environment(env)
        return cls(
            data_dir=Path(read.text("DERMASCAN_DATA_DIR", DEFAULT_DATA_DIR)),
            model=read.text("DERMASCAN_MODEL", DEFAULT_MODEL_ID),
            model_revision=read.text("DERMASCAN_MODEL_REVISION", DEFAULT_MODEL_REVISION),
            workers=read.positive_int("DERMASCAN_WORKERS", 1),
            result_timeout=read.positive_seconds(
                "DERMASCAN_RESULT_TIMEOUT", DEFAULT_RESULT_TIMEOUT
            ),
        )


@dataclass(frozen=True)
class RemoteSettings:
    """The deployed stack, seen from the app or the CLI."""

    bucket: str
    stack: str = ""
    result_timeout: float = DEFAULT_RESULT_TIMEOUT
    retention_days: int | None = None
    """How many days the bucket keeps uploads and results (the stack's
    ``uploadRetentionDays``), for the privacy notice; None when not told."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RemoteSettings:
        """``DERMASCAN_BUCKET`` (required) and ``DERMASCAN_STACK``, both set by
        ``export $(pulumi stack output appEnv)``, as is ``DERMASCAN_RETENTION_DAYS`` (the bucket's
        retention, for the privacy notice; optional); ``DERMASCAN_RESULT_TIMEOUT`` (seconds).
        AWS credentials and region come from the usual AWS variables.

        Raises:
            ConfigError: naming the variable that is missing or wrong.
        """
        read = _Environment(env)
        return cls(
            bucket=read.required(
                "DERMASCAN_BUCKET",
                "the stack's bucket (run `export $(pulumi stack output appEnv)` in the "
                "stack's directory)",
            ),
            stack=read.text("DERMASCAN_STACK", ""),
            result_timeout=read.positive_seconds(
                "DERMASCAN_RESULT_TIMEOUT", DEFAULT_RESULT_TIMEOUT
            ),
            retention_days=read.positive_int("DERMASCAN_RETENTION_DAYS", 0) or None,
        )


@dataclass(frozen=True)
class AppSettings:
    """Which backend the app runs on, its settings, and the triage rule it shows results by."""

    backend: Backend
    local: LocalSettings | None = None
    remote: RemoteSettings | None = None
    rule: TriageRule = field(default_factory=TriageRule)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AppSettings:
        """``DERMASCAN_BACKEND``: ``local`` (default) or ``aws``; then that backend's settings,
        and the triage thresholds (``triage_rule_from_env``).

        Raises:
            ConfigError: naming the variable that is missing or wrong.
        """
        backend = _Environment(env).choice("DERMASCAN_BACKEND", ("local", "aws"), "local")
        rule = triage_rule_from_env(env)
        if backend == "aws":
            return cls(backend="aws", remote=RemoteSettings.from_env(env), rule=rule)
        return cls(backend="local", local=LocalSettings.from_env(env), rule=rule)


def triage_rule_from_env(env: Mapping[str, str]) -> TriageRule:
    """The triage thresholds (``runtime.triage``) for the app, the CLI and ``evaluate``.

    ``DERMASCAN_REFER_THRESHOLD`` (default 0.25), ``DERMASCAN_UNCERTAIN_TOP`` (0.60) and
    ``DERMASCAN_UNCERTAIN_MARGIN`` (0.20), each a fraction between 0 and 1.

    Raises:
        ConfigError: naming the variable that is wrong.
    """
    read = _Environment(env)
    return TriageRule(
        refer_threshold=read.fraction("DERMASCAN_REFER_THRESHOLD", DEFAULT_REFER_THRESHOLD),
        uncertain_top=read.fraction("DERMASCAN_UNCERTAIN_TOP", DEFAULT_UNCERTAIN_TOP),
        uncertain_margin=read.fraction("DERMASCAN_UNCERTAIN_MARGIN", DEFAULT_UNCERTAIN_MARGIN),
    )
