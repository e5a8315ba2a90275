"""What the upstream layer needs from credentials: a resolver for ``{secret: NAME}`` values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.config.secrets import SecretOrLiteral, SecretRef
from gateway.errors import CredentialError

__all__ = ["LiteralResolver", "SecretResolver"]


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
