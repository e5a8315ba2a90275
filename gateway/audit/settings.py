"""``AuditSettings``: the ``gateway.audit`` section of ``upstreams.yaml``.

Example::

    gateway:
      audit:
        fsync: true                 # fsync durable records (decisions) before the call is forwarded
        rotation: {daily: true, max_bytes: 52428800}
        default_privacy: preview    # none | preview | full, for arguments and results
        privacy: {github: none, local-files: full}
        preview_chars: 2000
        max_argument_chars: 65536
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from gateway.config.models import UPSTREAM_NAME_PATTERN
from gateway.errors import ConfigError

__all__ = ["DEFAULT_MAX_BYTES", "AuditSettings", "PrivacyLevel", "RotationSettings", "load_audit_settings"]

PrivacyLevel = Literal["none", "preview", "full"]
"""How much of a call's arguments and result is recorded: nothing, a capped preview, or everything (capped)."""

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


class RotationSettings(BaseModel):
    """When to start a new audit file. Both rules may apply; either one triggers a rotation."""

    model_config = ConfigDict(extra="forbid")

    daily: bool = Field(default=True, description="Start a new file when the UTC date changes.")
    max_bytes: PositiveInt | None = Field(
        default=DEFAULT_MAX_BYTES, description="Start a new file before one would grow past this size (null: no limit)."
    )


class AuditSettings(BaseModel):
    """Audit trail settings. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")

    fsync: bool = Field(
        default=False,
        description=(
            "fsync durable records before emit returns. Off: durable records are written to the OS before the "
            "call is forwarded (they survive the gateway being killed); on: they also survive power loss, at the "
            "cost of one disk flush per call (shared by concurrent calls)."
        ),
    )
    rotation: RotationSettings = Field(default_factory=RotationSettings)
    default_privacy: PrivacyLevel = Field(default="preview", description="Privacy level for upstreams not listed.")
    privacy: dict[str, PrivacyLevel] = Field(
        default_factory=dict, description="Per-upstream privacy level, e.g. {github: none, files: full}."
    )
    preview_chars: PositiveInt = Field(default=2000, description="Longest preview of arguments or results.")
    max_argument_chars: PositiveInt = Field(
        default=64 * 1024,
        description="Cap on arguments/results recorded at privacy 'full' (longer ones are previewed).",
    )

    @field_validator("privacy")
    @classmethod
    def _check_upstream_names(cls, value: dict[str, PrivacyLevel]) -> dict[str, PrivacyLevel]:
        for name in value:
            if not re.fullmatch(UPSTREAM_NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not an upstream name (lower-case letters, digits and '-')")
        return value

    def privacy_for(self, upstream: str) -> PrivacyLevel:
        """The privacy level that applies to ``upstream``."""
        return self.privacy.get(upstream, self.default_privacy)


def load_audit_settings(data: Mapping[str, Any], *, path: str | None = None) -> AuditSettings:
    """Validate the ``gateway.audit`` dict; problems become one ``ConfigError`` naming each key."""
    try:
        return AuditSettings.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            msg = "unknown key; check the spelling" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"gateway.audit.{where}: {msg}")
        raise ConfigError("invalid audit settings:\n  " + "\n  ".join(problems), path=path) from None
