"""Pydantic models for ``upstreams.yaml``. Unknown keys are rejected everywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from gateway.config.secrets import SecretOrLiteral, SecretRef

__all__ = [
    "UPSTREAM_NAME_PATTERN",
    "GatewaySettings",
    "HttpUpstream",
    "ProtocolMode",
    "StdioUpstream",
    "Upstream",
    "UpstreamsFile",
]

UPSTREAM_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
PREFIX_SEPARATOR = "__"

ProtocolMode = Literal["auto", "legacy", "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _UpstreamBase(_Model):
    enabled: bool = True
    description: str | None = None
    prefix: str | None = Field(
        default=None,
        description='Namespace for tool and prompt names: default is the upstream name; "none" keeps names unchanged.',
    )
    enabled_tools: list[str] | None = Field(default=None, description="Glob patterns; only matching tools are exposed.")
    disabled_tools: list[str] = Field(default_factory=list, description="Glob patterns of tools never exposed.")
    hidden_arguments: dict[str, SecretOrLiteral] = Field(
        default_factory=dict,
        description="Arguments the gateway fills in on every call; removed from the tool's inputSchema.",
    )
    protocol: ProtocolMode = "auto"
    startup_timeout: PositiveFloat = 30.0
    call_timeout: PositiveFloat = Field(default=120.0, description="Seconds without progress before a call fails.")
    max_restarts: PositiveInt | None = Field(
        default=None, description="Give up after this many restarts (default: never)."
    )

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str | None) -> str | None:
        if value is None or value == "none":
            return value
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", value):
            raise ValueError('prefix must be "none" or letters, digits and "-" (e.g. "gh")')
        return value

    def namespace(self, name: str) -> str | None:
        """The prefix for exposed names, or None when names are exposed unchanged."""
        if self.prefix == "none":
            return None
        return self.prefix or name

    @property
    def transport(self) -> str:
        raise NotImplementedError


class StdioUpstream(_UpstreamBase):
    type: Literal["stdio"] = "stdio"
    command: Annotated[str, Field(min_length=1)]
    args: list[str] = Field(default_factory=list)
    cwd: str | None = None
    env: dict[str, SecretOrLiteral] = Field(default_factory=dict)
    inherit_env: list[str] = Field(
        default_factory=list, description="Extra variables passed through from the gateway's own environment."
    )

    @property
    def transport(self) -> str:
        return "stdio"


class HttpUpstream(_UpstreamBase):
    type: Literal["http"] = "http"
    url: Annotated[
        str, Field(pattern=r"^https?://", description="Streamable HTTP endpoint, e.g. http://127.0.0.1:3001/mcp")
    ]
    headers: dict[str, SecretOrLiteral] = Field(default_factory=dict)
    connect_timeout: PositiveFloat = 10.0

    @property
    def transport(self) -> str:
        return "http"


Upstream = Annotated[StdioUpstream | HttpUpstream, Field(discriminator="type")]


class GatewaySettings(_Model):
    """The ``gateway:`` section: settings of the gateway itself."""

    state_dir: str | None = Field(
        default=None, description="Approvals database, probe cache, status (default: .mcp-gateway/ beside the config)."
    )
    audit_dir: str | None = Field(default=None, description="Audit log directory (default: <state_dir>/audit).")
    max_message_bytes: PositiveInt = Field(default=4 * 1024 * 1024, description="Largest accepted client message.")
    hide_denied_tools: bool = True
    require_tokens: bool = Field(
        default=False,
        description="HTTP clients must send a token (`mcp-gateway tokens create`); also on whenever a token exists.",
    )
    audit: dict[str, Any] = Field(default_factory=dict, description="Audit settings (see gateway.audit).")
    telemetry: dict[str, Any] = Field(default_factory=dict, description="OpenTelemetry export (see gateway.telemetry).")
    credentials: dict[str, Any] = Field(default_factory=dict, description="Keyring settings (see gateway.credentials).")
    approvals: dict[str, Any] = Field(default_factory=dict, description="Approval settings (see gateway.approvals).")


class UpstreamsFile(_Model):
    """The whole of ``upstreams.yaml``."""

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    upstreams: dict[Annotated[str, Field(pattern=UPSTREAM_NAME_PATTERN)], Upstream] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _infer_types(cls, data: Any) -> Any:
        # mcpServers convention: `command` means stdio, `url` means HTTP; `type` is optional.
        if not isinstance(data, dict):
            return data
        ups = data.get("upstreams")
        if isinstance(ups, dict):
            fixed: dict[Any, Any] = {}
            for name, spec in ups.items():
                if isinstance(spec, dict) and "type" not in spec:
                    if "url" in spec and "command" not in spec:
                        spec = {**spec, "type": "http"}
                    elif "command" in spec:
                        spec = {**spec, "type": "stdio"}
                if isinstance(spec, dict) and spec.get("type") in ("streamable-http", "streamableHttp", "sse"):
                    spec = {**spec, "type": "http"}
                fixed[name] = spec
            data = {**data, "upstreams": fixed}
        return data


def resolve_path(base: Path, value: str | None) -> Path | None:
    """Resolve a path from the config relative to the config file's folder, expanding ``~``."""
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


def all_secret_refs(file: UpstreamsFile) -> dict[str, list[SecretRef]]:
    """Every secret reference per upstream (env, headers, hidden arguments)."""
    out: dict[str, list[SecretRef]] = {}
    for name, up in file.upstreams.items():
        values: list[SecretOrLiteral] = list(up.hidden_arguments.values())
        if isinstance(up, StdioUpstream):
            values += list(up.env.values())
        else:
            values += list(up.headers.values())
        refs = [v for v in values if isinstance(v, SecretRef)]
        if refs:
            out[name] = refs
    return out
