"""The Lambda function's settings, read once from its environment and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runtime.classifiers import DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION
from runtime.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageLimits
from runtime.records import KeyLayout


class ConfigError(ValueError):
    """A missing or malformed environment variable; the message names it."""


@dataclass(frozen=True)
class Settings:
    """What the handler needs to know about its deployment."""

    bucket: str
    endpoint_name: str
    model_id: str = DEFAULT_MODEL_ID
    model_revision: str | None = DEFAULT_MODEL_REVISION
    layout: KeyLayout = field(default_factory=KeyLayout)
    limits: ImageLimits = field(default_factory=ImageLimits)
    invoke_max_attempts: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the settings from environment variables.

        Required: ``BUCKET_NAME``, ``ENDPOINT_NAME``. Optional: ``MODEL_ID``,
        ``MODEL_REVISION``, ``UPLOADS_PREFIX``, ``PREDICTIONS_PREFIX``, ``THUMBNAILS_PREFIX``,
        ``MAX_IMAGE_BYTES``, ``MAX_IMAGE_PIXELS``, ``INVOKE_MAX_ATTEMPTS``.

        Raises:
            ConfigError: naming the variable that is missing or wrong.
        """
        defaults = KeyLayout()
        try:
            layout = KeyLayout(
                uploads=env.get("UPLOADS_PREFIX", defaults.uploads),
                predictions=env.get("PREDICTIONS_PREFIX", defaults.predictions),
                thumbnails=env.get("THUMBNAILS_PREFIX", defaults.thumbnails),
            )
        except ValueError as exc:
            raise ConfigError(f"*_PREFIX environment variables: {exc}") from exc
        return cls(
            bucket=_required(env, "BUCKET_NAME"),
            endpoint_name=_required(env, "ENDPOINT_NAME"),
            model_id=env.get("MODEL_ID") or DEFAULT_MODEL_ID,
            model_revision=env.get("MODEL_REVISION") or DEFAULT_MODEL_REVISION,
            layout=layout,
            limits=ImageLimits(
                max_bytes=_positive_int(env, "MAX_IMAGE_BYTES", DEFAULT_MAX_BYTES),
                max_pixels=_positive_int(env, "MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS),
            ),
            invoke_max_attempts=_positive_int(env, "INVOKE_MAX_ATTEMPTS", 4),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} must be set")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"environment variable {name} must be a whole number, got {raw!r}"
        ) from None
    if value <= 0:
        raise ConfigError(f"environment variable {name} must be positive, got {value}")
    return value
