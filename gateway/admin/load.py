"""The one way the gateway and its CLI load configuration: layers, profile and requirements applied."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from gateway.admin.effective import Effective, load_effective
from gateway.admin.layers import default_system_dir, default_user_dir, layer_paths
from gateway.admin.requirements import REQUIREMENTS_FILE
from gateway.config.loader import LoadedConfig

__all__ = ["load_layered"]


def load_layered(config_path: Path, *, policies_dir: Path | None = None) -> tuple[LoadedConfig, Effective]:
    """The effective configuration (system dir and profile from $MCP_GATEWAY_SYSTEM_DIR / $MCP_GATEWAY_PROFILE).

    ``policies_dir`` (``--policies``) replaces the project layer's ``policies/``. Raises ConfigError.
    """
    system_dir = default_system_dir().expanduser().resolve()
    user_dir = default_user_dir().expanduser().resolve()
    eff = load_effective(config_path, system_dir=system_dir, user_dir=user_dir)
    if policies_dir is not None:
        project = eff.path.parent / "policies"
        eff = replace(eff, policy_dirs=[policies_dir if d == project else d for d in eff.policy_dirs])
    sources = [p for _name, p, _pdir in layer_paths(eff.path, system_dir, user_dir)]
    sources.append(system_dir / REQUIREMENTS_FILE)
    loaded = LoadedConfig(
        path=eff.path,
        file=eff.file,
        disabled_reasons=dict(eff.disabled),
        sources=tuple(sources),
        notices=tuple(eff.notices),
    )
    return loaded, eff


def env_overrides(system_dir: str | None, profile: str | None) -> None:
    """Apply ``--system-dir`` / ``--profile`` for this process (and the CLI commands it runs)."""
    if system_dir is not None:
        os.environ["MCP_GATEWAY_SYSTEM_DIR"] = system_dir
    if profile is not None:
        os.environ["MCP_GATEWAY_PROFILE"] = profile
