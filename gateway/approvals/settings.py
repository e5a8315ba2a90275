"""``gateway.approvals`` settings from ``upstreams.yaml``."""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)

from gateway.errors import ConfigError

__all__ = ["DEFAULT_MASK_PATTERNS", "ApprovalSettings", "load_approval_settings"]

DEFAULT_MASK_PATTERNS: tuple[str, ...] = (
    "token",
    "password",
    "passwd",
    "secret",
    "key",
    "auth",
    "credential",
    "cookie",
    "session",
    "bearer",
    "private",
    "signature",
)


class ApprovalSettings(BaseModel):
    """How the gateway asks a human, and for how long it waits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue_wait: PositiveFloat = Field(
        default=120.0, description="Seconds a queued approval waits for `mcp-gateway approvals approve` before denying."
    )
    elicitation_timeout: PositiveFloat = Field(
        default=300.0, description="Seconds to wait for a client to answer an elicitation before denying."
    )
    circuit_breaker_threshold: NonNegativeInt = Field(
        default=3, description="Consecutive denials in a session that pause it (0 disables the breaker)."
    )
    state_ttl: PositiveFloat = Field(
        default=600.0, description="Seconds a sealed request_state (2026-07-28 clients) stays valid."
    )
    arg_preview_length: PositiveInt = Field(
        default=200, description="Longest argument value shown in a question; longer values are cut with an ellipsis."
    )
    mask_patterns: tuple[str, ...] = Field(
        default=DEFAULT_MASK_PATTERNS,
        description="Case-insensitive regular expressions; arguments whose name matches are shown as ***.",
    )
    poll_interval: PositiveFloat = Field(
        default=0.2, description="Seconds between checks of the approvals database while a call is queued."
    )

    def mask_regex(self) -> re.Pattern[str]:
        """One compiled pattern matching any secret-looking argument name."""
        return re.compile("|".join(f"(?:{p})" for p in self.mask_patterns) or r"(?!)", re.IGNORECASE)

    @field_validator("mask_patterns")
    @classmethod
    def _check_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"mask pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return value


def load_approval_settings(data: dict[str, Any], *, path: str | None = None) -> ApprovalSettings:
    """Validate the ``gateway.approvals`` mapping; errors name the key and what to fix."""
    try:
        return ApprovalSettings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "approvals"
            msg = "unknown key; check the spelling" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"gateway.approvals.{where}: {msg}")
        raise ConfigError("invalid approval settings:\n  " + "\n  ".join(problems), path=path) from None
