"""Finding and reading the configuration layers, and picking a profile's overlay out of each.

Layers, lowest to highest precedence (each optional):

1. built-in defaults (the pydantic models' defaults);
2. user: ``<user_dir>/upstreams.yaml`` and ``<user_dir>/policies/``;
3. project: the ``--config`` file and ``policies/`` beside it;
4. managed defaults: ``<system_dir>/managed.yaml`` (same format as ``upstreams.yaml``) and ``<system_dir>/policies/``.

Any layer file may hold ``profiles: {NAME: {gateway: ..., upstreams: ..., approval_modes: [...]}}``; the selected
profile's overlay applies right on top of the file that defines it (so a managed value still beats a user profile).
``approval_modes`` in a profile uses the ``policies/*.yaml`` format and is added to the policy set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config.loader import read_mapping
from gateway.errors import ConfigError

__all__ = [
    "MANAGED_FILE",
    "PROFILE_KEYS",
    "Layer",
    "check_profile",
    "default_profile",
    "default_system_dir",
    "default_user_dir",
    "layer_paths",
    "read_layers",
]

MANAGED_FILE = "managed.yaml"
PROFILE_KEYS = frozenset({"gateway", "upstreams", "approval_modes"})


def default_system_dir() -> Path:
    """``$MCP_GATEWAY_SYSTEM_DIR`` or ``/etc/mcp-gateway``."""
    return Path(os.environ.get("MCP_GATEWAY_SYSTEM_DIR") or "/etc/mcp-gateway")


def default_user_dir() -> Path:
    """``$XDG_CONFIG_HOME/mcp-gateway`` or ``~/.config/mcp-gateway``."""
    base = os.environ.get("XDG_CONFIG_HOME")
    return (Path(base) if base else Path.home() / ".config") / "mcp-gateway"


def default_profile() -> str | None:
    """``$MCP_GATEWAY_PROFILE`` or None."""
    return os.environ.get("MCP_GATEWAY_PROFILE") or None


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer file as read: its base data, and the profile overlays it defines."""

    name: str  # "user", "project" or "managed"
    path: Path
    policy_dir: Path
    data: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def label(self, profile: str | None = None) -> str:
        """How origins name this layer (with the profile when the value came from an overlay)."""
        return f"{self.path} (profile {profile})" if profile else str(self.path)


def _read_layer(name: str, path: Path, policy_dir: Path) -> Layer | None:
    if not path.is_file():
        return None
    raw = read_mapping(path, "a mapping with an 'upstreams:' key")
    data = dict(raw)
    profiles_raw = data.pop("profiles", None) or {}
    if not isinstance(profiles_raw, dict):
        raise ConfigError("'profiles' must map names to overlays, e.g. profiles: {ci: {...}}", path=str(path))
    profiles: dict[str, dict[str, Any]] = {}
    for pname, overlay in profiles_raw.items():
        where = f"profiles.{pname}"
        if overlay is None:
            overlay = {}
        if not isinstance(overlay, dict):
            raise ConfigError(
                "a profile is a mapping with 'gateway:' and/or 'upstreams:'", path=str(path), location=where
            )
        unknown = sorted(set(overlay) - PROFILE_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(map(repr, unknown))}; a profile may set {', '.join(sorted(PROFILE_KEYS))}",
                path=str(path),
                location=where,
            )
        if not isinstance(overlay.get("approval_modes", []), list):
            raise ConfigError("'approval_modes' must be a list", path=str(path), location=f"{where}.approval_modes")
        profiles[str(pname)] = overlay
    return Layer(name, path, policy_dir, data, profiles)


def layer_paths(config_path: Path, system_dir: Path, user_dir: Path) -> list[tuple[str, Path, Path]]:
    """(layer name, config file, policy directory) for user, project and managed, lowest precedence first."""
    project = config_path.expanduser().resolve()
    return [
        ("user", user_dir / "upstreams.yaml", user_dir / "policies"),
        ("project", project, project.parent / "policies"),
        ("managed", system_dir / MANAGED_FILE, system_dir / "policies"),
    ]


def read_layers(config_path: Path, system_dir: Path, user_dir: Path) -> list[Layer]:
    """The layer files that exist, lowest precedence first. Raises ConfigError for an unreadable or invalid file."""
    layers = []
    for name, path, policy_dir in layer_paths(config_path, system_dir, user_dir):
        layer = _read_layer(name, path, policy_dir)
        if layer is not None:
            layers.append(layer)
    return layers


def check_profile(layers: list[Layer], profile: str | None) -> None:
    """Raise ConfigError when ``profile`` is set but no layer defines it, listing the known names."""
    if profile is None:
        return
    known = sorted({p for layer in layers for p in layer.profiles})
    if profile not in known:
        listed = ", ".join(known) if known else "none are defined"
        files = ", ".join(str(layer.path) for layer in layers) or "no layer files found"
        raise ConfigError(
            f"unknown profile '{profile}'; known profiles: {listed} (looked in: {files}). "
            "Pass --profile NAME or set MCP_GATEWAY_PROFILE to one of them, or add it under 'profiles:'"
        )
