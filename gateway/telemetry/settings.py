"""``gateway.telemetry`` in ``upstreams.yaml``: where and what to export over OTLP/HTTP.

Example::

    gateway:
      telemetry:
        enabled: true
        endpoint: http://127.0.0.1:4318      # OTLP/HTTP base URL; /v1/traces etc. are appended
        headers:
          Authorization: {secret: otel-token, template: "Bearer {secret}"}
        metrics: false
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, model_validator

from gateway.config.secrets import SecretOrLiteral, SecretRef
from gateway.errors import ConfigError

__all__ = ["TelemetrySettings"]


class TelemetrySettings(BaseModel):
    """OpenTelemetry export settings. Off by default; nothing is exported unless ``enabled`` is true."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    endpoint: Annotated[
        str | None,
        Field(pattern=r"^https?://", description="OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 (no /v1/... suffix)."),
    ] = None
    headers: dict[str, SecretOrLiteral] = Field(
        default_factory=dict, description="Headers sent with every export; values may be {secret: NAME} references."
    )
    service_name: Annotated[str, Field(min_length=1)] = "mcp-gateway"
    resource_attributes: dict[str, str] = Field(
        default_factory=dict, description='Extra resource attributes, e.g. {"deployment.environment.name": "prod"}.'
    )
    traces: bool = True
    logs: bool = True
    metrics: bool = True
    export_timeout: Annotated[PositiveFloat, Field(le=30)] = Field(
        default=2.0, description="Seconds one export request (with retries) may take; exports run in the background."
    )
    batch_delay: Annotated[PositiveFloat, Field(le=60)] = Field(
        default=1.0, description="Seconds between batch exports of spans and log records."
    )
    max_queue_size: Annotated[PositiveInt, Field(le=1_000_000)] = Field(
        default=4096, description="Spans / log records buffered per signal; beyond this the oldest are dropped."
    )
    metric_export_interval: Annotated[PositiveFloat, Field(ge=0.05)] = Field(
        default=30.0, description="Seconds between metric exports."
    )
    shutdown_timeout: Annotated[PositiveFloat, Field(le=60)] = Field(
        default=3.0, description="Seconds the final flush on shutdown may take."
    )
    max_attribute_length: Annotated[PositiveInt, Field(ge=16)] = Field(
        default=4096, description="Longer string attribute values are truncated."
    )

    @model_validator(mode="after")
    def _endpoint_when_enabled(self) -> TelemetrySettings:
        if self.enabled and not self.endpoint:
            raise ValueError("endpoint is required when enabled is true, e.g. endpoint: http://127.0.0.1:4318")
        return self

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None, *, path: str | None = None) -> TelemetrySettings:
        """Validate the ``gateway.telemetry`` mapping; errors become a ``ConfigError`` naming the key to fix."""
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in ("gateway", "telemetry", *first["loc"]))
            raise ConfigError(first["msg"], path=path, location=loc) from None

    def secret_refs(self) -> dict[str, SecretRef]:
        """Header name -> secret reference, for the caller to resolve before ``Telemetry.create``."""
        return {k: v for k, v in self.headers.items() if isinstance(v, SecretRef)}

    def signal_url(self, signal: str) -> str:
        """The export URL for ``traces`` / ``logs`` / ``metrics`` (base endpoint + ``/v1/<signal>``)."""
        if not self.endpoint:
            raise ConfigError("telemetry endpoint is not set", location="gateway.telemetry.endpoint")
        return f"{self.endpoint.rstrip('/')}/v1/{signal}"
