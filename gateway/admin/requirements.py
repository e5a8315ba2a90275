"""``requirements.yaml`` in the system directory: constraints users cannot loosen.

Requirements do not set values, they bound them. Example::

    allowed_approval_modes: [auto, prompt, never]
    rules:                                  # same format as policies/*.yaml, only prompt or deny
      - id: no-prod-deletes
        match: {upstream: "prod-*", tool: "delete_*"}
        decision: deny
        justification: Production data is deleted through change control only.
    upstreams:
      allow:                                # name glob plus identity (argv prefix or URL glob)
        - {name: time, command: [uvx, mcp-server-time]}
        - {name: "gh*", url: "https://api.githubcopilot.com/*"}
    denied_tools: ["*__delete_repository", {upstream: files, tool: "rm*"}]
    audit: {fsync: true}                    # mandatory values, merged over gateway.audit
    telemetry: {enabled: true, endpoint: "https://otel.example.com"}
    network: {allowed_hosts: ["**.example.com"], denied_hosts: [metadata, private]}
    require_tokens: true

An invalid file stops the gateway (fail closed): ``load_requirements`` raises ``ConfigError`` naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.audit.settings import AuditSettings
from gateway.config.loader import format_validation_error, read_mapping
from gateway.errors import ConfigError
from gateway.policy.engine import CompiledRule
from gateway.policy.models import ApprovalMode, RuleSpec
from gateway.policy.urls import HostMatcher
from gateway.telemetry.settings import TelemetrySettings

__all__ = [
    "REQUIREMENTS_FILE",
    "DeniedTool",
    "NetworkRequirements",
    "Requirements",
    "UpstreamAllowEntry",
    "UpstreamRequirements",
    "load_requirements",
]

REQUIREMENTS_FILE = "requirements.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamAllowEntry(_Model):
    """An allowed upstream: its name (glob) and identity, either an argv prefix (stdio) or a URL glob (HTTP)."""

    name: str = Field(min_length=1, description="Glob on the upstream name, e.g. 'gh*'.")
    command: list[str] | None = Field(
        default=None, description="Prefix of [command, *args]; each word may be a glob, e.g. [uvx, mcp-server-time]."
    )
    url: str | None = Field(default=None, description="Glob on the whole URL, e.g. 'https://mcp.example.com/*'.")

    @model_validator(mode="after")
    def _one_identity(self) -> UpstreamAllowEntry:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (an argv prefix) or 'url' (a URL glob)")
        if self.command is not None and not self.command:
            raise ValueError("'command' needs at least one word, e.g. [uvx, mcp-server-time]")
        return self


class UpstreamRequirements(_Model):
    allow: list[UpstreamAllowEntry] | None = Field(
        default=None, description="When set, upstreams matching no entry (name and identity) are disabled."
    )


class DeniedTool(_Model):
    upstream: str = "*"
    tool: str = Field(min_length=1)


class NetworkRequirements(_Model):
    """Hosts URL arguments may reach (same host syntax as the policy engine's ``url_host``)."""

    allowed_hosts: list[str] | None = None
    denied_hosts: list[str] = Field(default_factory=list)

    @field_validator("allowed_hosts", "denied_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            HostMatcher.compile(value)
        return value


class Requirements(_Model):
    """The whole of ``requirements.yaml``. Every key is optional; an omitted key constrains nothing."""

    allowed_approval_modes: list[ApprovalMode] | None = Field(default=None, min_length=1)
    rules: list[RuleSpec] = Field(default_factory=list)
    upstreams: UpstreamRequirements = Field(default_factory=UpstreamRequirements)
    denied_tools: list[str | DeniedTool] = Field(default_factory=list)
    audit: dict[str, Any] = Field(default_factory=dict)
    telemetry: dict[str, Any] = Field(default_factory=dict)
    network: NetworkRequirements = Field(default_factory=NetworkRequirements)
    require_tokens: bool = False

    @field_validator("denied_tools")
    @classmethod
    def _check_denied(cls, value: list[str | DeniedTool]) -> list[str | DeniedTool]:
        for item in value:
            if isinstance(item, str) and "__" not in item:
                raise ValueError(f"{item!r}: write 'upstream__tool' (globs allowed) or {{upstream: ..., tool: ...}}")
        return value

    @field_validator("audit")
    @classmethod
    def _check_audit(cls, value: dict[str, Any]) -> dict[str, Any]:
        _partial(AuditSettings, value, "gateway.audit")
        return value

    @field_validator("telemetry")
    @classmethod
    def _check_telemetry(cls, value: dict[str, Any]) -> dict[str, Any]:
        _partial(TelemetrySettings, value, "gateway.telemetry")
        return value

    def denied_pairs(self) -> list[tuple[str, str]]:
        """``denied_tools`` as (upstream glob, tool glob) pairs, in file order."""
        out: list[tuple[str, str]] = []
        for item in self.denied_tools:
            if isinstance(item, DeniedTool):
                out.append((item.upstream, item.tool))
            else:
                upstream, _, tool = item.partition("__")  # upstream names never contain '_'
                out.append((upstream, tool))
        return out


def _partial(model: type[BaseModel], value: dict[str, Any], section: str) -> None:
    # The mandatory values must be valid settings on their own; report them briefly, like a field error.
    try:
        model.model_validate(value)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = "unknown key; check the spelling" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{loc}: {msg}")
        raise ValueError(f"not valid as {section} settings: " + "; ".join(problems)) from None


def _check_rules(req: Requirements, path: Path) -> None:
    seen: set[str] = set()
    for index, rule in enumerate(req.rules):
        where = f"rules[{index}] (id '{rule.id}')"
        if rule.decision not in ("prompt", "deny"):
            raise ConfigError(
                f"a requirement rule may only 'prompt' or 'deny', not '{rule.decision}'; put allow rules in policies/",
                path=str(path),
                location=f"{where}, field 'decision'",
            )
        if rule.id in seen:
            raise ConfigError("duplicate rule id; give each rule a unique id", path=str(path), location=where)
        if rule.id.startswith("requirement:"):
            raise ConfigError(
                "ids starting with 'requirement:' are reserved for generated rules; rename it",
                path=str(path),
                location=f"{where}, field 'id'",
            )
        seen.add(rule.id)
        try:
            CompiledRule.compile(rule, str(path))
        except (ValueError, TypeError) as exc:
            raise ConfigError(str(exc), path=str(path), location=where) from None


def load_requirements(system_dir: Path) -> Requirements | None:
    """Read ``<system_dir>/requirements.yaml``; None when there is no such file. Raises ConfigError when invalid."""
    path = system_dir / REQUIREMENTS_FILE
    if not path.is_file():
        return None
    raw = read_mapping(path, "a mapping (see docs/admin.md); the gateway will not start")
    try:
        req = Requirements.model_validate(raw)
    except ValidationError as exc:
        err = format_validation_error(exc, path, kind="requirements")
        body = str(err).removeprefix(f"{path}: ").replace("invalid configuration", "invalid requirements file", 1)
        raise ConfigError(body + "\n  (the gateway refuses to start until this is fixed)", path=str(path)) from None
    _check_rules(req, path)
    return req
