"""``gateway.credentials`` settings from ``upstreams.yaml`` (the keyring backend and the cache TTL)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.config.models import UpstreamsFile, resolve_path
from gateway.errors import ConfigError

__all__ = ["INDEX_USERNAME", "SERVICE_NAME", "VERSION_FILE_NAME", "CredentialSettings", "load_credential_settings"]

SERVICE_NAME = "mcp-gateway"
"""The one keyring service every credential is stored under (fixed so the CLI and the gateway always agree)."""

INDEX_USERNAME = "__index__"
"""Keyring username of the entry listing stored names (keyring has no listing API; never a valid secret name)."""

VERSION_FILE_NAME = "credentials.version"
"""File in the state directory that ``creds set``/``delete`` bump so a running gateway notices rotation."""


class CredentialSettings(BaseModel):
    """The ``gateway.credentials`` section.

    ``backend: auto`` uses the OS keyring found by ``keyring`` (Secret Service, macOS Keychain, Windows
    Credential Manager) and refuses to run when there is none. ``backend: file`` stores secrets base64-encoded
    (not encrypted) in ``file_path``; it is used only when configured explicitly, never as a fallback.
    """

    model_config = ConfigDict(extra="forbid")

    backend: Literal["auto", "file"] = "auto"
    cache_ttl: float = Field(default=300.0, ge=0, description="Seconds a resolved secret is kept in memory (0: never).")
    file_path: str | None = Field(
        default=None,
        description="For backend 'file': the credentials file (default: <state_dir>/credentials.cfg).",
    )
    poll_interval: float = Field(
        default=2.0, gt=0, description="Seconds between checks for credentials rotated by another process."
    )
    timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds to wait for the keyring (an unlock prompt included) before a read or write fails.",
    )

    @property
    def service(self) -> str:
        return SERVICE_NAME

    def resolved_file_path(self, state_dir: Path, base_dir: Path) -> Path:
        """Where the file backend keeps its data (relative paths are relative to the config's folder)."""
        return resolve_path(base_dir, self.file_path) or (state_dir / "credentials.cfg")


def load_credential_settings(file: UpstreamsFile, *, path: Path | None = None) -> CredentialSettings:
    """Validate ``gateway.credentials``; a mistake becomes a ConfigError naming the key to fix."""
    try:
        return CredentialSettings.model_validate(file.gateway.credentials)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in ("gateway", "credentials", *err["loc"]))
            hint = "unknown key; allowed: " + ", ".join(CredentialSettings.model_fields)
            problems.append(f"{where}: {hint if err['type'] == 'extra_forbidden' else err['msg']}")
        raise ConfigError("; ".join(problems), path=str(path) if path else None) from None
