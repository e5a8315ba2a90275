"""What the upstream layer needs from credentials: resolving values and building a minimal child environment."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Protocol

from gateway.config.secrets import SecretOrLiteral, SecretRef
from gateway.errors import CredentialError

__all__ = ["BASE_ENV_ALLOWLIST", "LiteralResolver", "SecretResolver", "child_environment"]

# The gateway's own environment (which may hold tokens) is not inherited; only what a process needs to run.
BASE_ENV_ALLOWLIST = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TMPDIR",
    "TZ",
    "SYSTEMROOT",
)


class SecretResolver(Protocol):
    async def resolve(self, values: Mapping[str, SecretOrLiteral]) -> tuple[dict[str, str], dict[str, str]]:
        """Return (resolved values, {credential name: secret value} used). Raises CredentialError."""
        ...


class LiteralResolver:
    """A resolver for configs without secret references (references fail closed)."""

    async def resolve(self, values: Mapping[str, SecretOrLiteral]) -> tuple[dict[str, str], dict[str, str]]:
        out: dict[str, str] = {}
        for key, value in values.items():
            if isinstance(value, SecretRef):
                raise CredentialError(
                    f"Credential '{value.secret}' is not available; run: mcp-gateway creds set {value.secret}"
                )
            out[key] = value
        return out, {}


def child_environment(configured: Mapping[str, str], inherit: Iterable[str] = ()) -> dict[str, str]:
    """A short allow-list from our environment, plus ``inherit``, plus the upstream's configured values."""
    env = {k: os.environ[k] for k in (*BASE_ENV_ALLOWLIST, *inherit) if k in os.environ}
    env.update(configured)
    return env
