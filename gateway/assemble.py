"""Build a ready-to-run ``Gateway`` from configuration: policy, approvals, credentials, audit, telemetry."""

from __future__ import annotations

from pathlib import Path

from gateway.config.loader import LoadedConfig
from gateway.runtime import Gateway

__all__ = ["assemble"]


async def assemble(
    config: LoadedConfig,
    *,
    policies_dir: Path | None = None,
    audit_dir: Path | None = None,
) -> Gateway:
    return Gateway(config)
