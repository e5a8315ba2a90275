"""``load_effective``: every layer merged, the selected profile applied, and requirements enforced.

Order of work (pure apart from reading the files; call it through ``anyio.to_thread.run_sync``):

1. read the user, project and managed layer files (``gateway.admin.layers``);
2. merge them lowest first, each file's selected profile right after the file (``gateway.admin.merge``);
3. merge the mandatory ``audit``/``telemetry`` values of ``requirements.yaml`` over the result;
4. validate as ``upstreams.yaml`` (``UpstreamsFile``) and disable upstreams the allow-list does not admit;
5. turn requirement rules, denied tools and network limits into one policy file (``requirement_policy``).

Every replaced value yields a notice; nothing is changed silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.admin.constrain import allow_list_reasons, apply_mandatory, disable_upstreams
from gateway.admin.explain import explain_key
from gateway.admin.layers import (
    Layer,
    check_profile,
    default_profile,
    default_system_dir,
    default_user_dir,
    layer_paths,
    read_layers,
)
from gateway.admin.merge import Provenance, flatten, merge_layer
from gateway.admin.modes import constrain_mode_entries
from gateway.admin.requirement_policy import requirement_policy
from gateway.admin.requirements import REQUIREMENTS_FILE, Requirements, load_requirements
from gateway.config.loader import LoadedConfig, validate_config_data
from gateway.config.models import UpstreamsFile
from gateway.errors import ConfigError
from gateway.policy.models import ApprovalModeEntry

__all__ = ["Effective", "load_effective"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Effective:
    """The effective configuration and everything needed to explain it.

    ``origins`` maps a dotted key to the file that set its value (keys not listed have their built-in default);
    ``history`` lists every (file, value) that set a key, lowest precedence first; ``constraints`` maps a dotted
    key (or a prefix of keys) to the requirement that bounds it.
    """

    file: UpstreamsFile
    path: Path
    policy_dirs: list[Path]
    requirement_policy: dict[str, Any]
    disabled: dict[str, str]
    notices: list[str]
    require_tokens: bool
    allowed_approval_modes: tuple[str, ...] | None
    origins: dict[str, str]
    profile: str | None = None
    profile_policy: dict[str, Any] = field(default_factory=dict)
    requirements_path: Path | None = None
    layer_files: tuple[Path, ...] = ()
    history: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)

    def loaded(self) -> LoadedConfig:
        """As a ``LoadedConfig`` (project path + merged file), for code that takes one."""
        return LoadedConfig(path=self.path, file=self.file)

    def explain(self, key: str) -> str:
        """Why ``key`` has its value: the origin, every layer that set it in order, and what constrains it.

        Raises ``ConfigError`` for a key that is neither in the configuration nor constrained.
        """
        return explain_key(self, key)


def _merge_layers(layers: list[Layer], profile: str | None, prov: Provenance) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = merge_layer(merged, layer.data, layer.label(), prov)
        overlay = layer.profiles.get(profile) if profile else None
        if overlay:
            body = {k: v for k, v in overlay.items() if k != "approval_modes"}
            merged = merge_layer(merged, body, layer.label(profile), prov)
    return merged


def _profile_modes(layers: list[Layer], profile: str | None, prov: Provenance) -> list[ApprovalModeEntry]:
    entries: list[ApprovalModeEntry] = []
    if profile is None:
        return entries
    for layer in layers:
        raw = (layer.profiles.get(profile) or {}).get("approval_modes") or []
        for index, item in enumerate(raw):
            try:
                entries.append(ApprovalModeEntry.model_validate(item))
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise ConfigError(
                    f"{first['msg']} (modes: approve, auto, prompt, never)",
                    path=str(layer.path),
                    location=f"profiles.{profile}.approval_modes[{index}]" + (f".{loc}" if loc else ""),
                ) from None
            prov.record("approval_modes", layer.label(profile), item)
    return entries


def _validate(merged: dict[str, Any], path: Path, layers: list[Layer]) -> UpstreamsFile:
    try:
        return validate_config_data(merged, path)
    except ConfigError as exc:
        if len(layers) <= 1:
            raise
        files = ", ".join(str(layer.path) for layer in layers)
        raise ConfigError(f"{exc} \n  (merged from: {files}; run `mcp-gateway config show --origin`)") from None


def _constraints(req: Requirements | None, label: str, file: UpstreamsFile, disabled: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if req is None:
        return out
    for section in ("audit", "telemetry"):
        for key, value in flatten(getattr(req, section), ("gateway", section)):
            out[key] = f"{label} requires {key.split('.', 1)[1]} = {json.dumps(value, default=str)} (mandatory value)"
    allow = req.upstreams.allow
    if allow is not None:
        for name in file.upstreams:
            out[f"upstreams.{name}"] = disabled.get(name) or f"{label} upstreams.allow admits this name and identity"
    if req.allowed_approval_modes is not None:
        out["approval_modes"] = f"{label} allows only the approval modes {', '.join(req.allowed_approval_modes)}"
    out["require_tokens"] = f"{label} require_tokens = {json.dumps(req.require_tokens)}"
    if req.require_tokens:
        out["gateway.require_tokens"] = f"{label} requires HTTP clients to present a token"
    return out


def load_effective(
    config_path: Path,
    *,
    system_dir: Path | None = None,
    user_dir: Path | None = None,
    profile: str | None = None,
) -> Effective:
    """Merge the layers, apply ``profile`` and enforce ``requirements.yaml``. Raises ConfigError on any problem.

    Defaults: ``system_dir`` $MCP_GATEWAY_SYSTEM_DIR or /etc/mcp-gateway; ``user_dir`` $XDG_CONFIG_HOME/mcp-gateway
    or ~/.config/mcp-gateway; ``profile`` $MCP_GATEWAY_PROFILE. Synchronous: reads files.
    """
    system_dir = (system_dir if system_dir is not None else default_system_dir()).expanduser().resolve()
    user_dir = (user_dir if user_dir is not None else default_user_dir()).expanduser().resolve()
    profile = profile if profile is not None else default_profile()
    path = config_path.expanduser().resolve()
    req = load_requirements(system_dir)  # first: an invalid requirements file must stop everything
    req_label = f"{system_dir / REQUIREMENTS_FILE} (required)"
    layers = read_layers(path, system_dir, user_dir)
    check_profile(layers, profile)
    prov = Provenance()
    merged = _merge_layers(layers, profile, prov)
    notices: list[str] = []
    if req is not None:
        merged, mandatory_notices = apply_mandatory(merged, req, prov, req_label)
        notices += mandatory_notices
    file = _validate(merged, path, layers)
    disabled = allow_list_reasons(file, req, str(system_dir / REQUIREMENTS_FILE))
    file, disable_notices = disable_upstreams(file, disabled, prov, req_label)
    notices += disable_notices
    allowed = tuple(req.allowed_approval_modes) if req is not None and req.allowed_approval_modes else None
    modes, mode_notices = constrain_mode_entries(_profile_modes(layers, profile, prov), allowed, f"profile {profile}")
    notices += mode_notices
    return Effective(
        file=file,
        path=path,
        policy_dirs=[policy_dir for _, _, policy_dir in layer_paths(path, system_dir, user_dir)],
        requirement_policy=requirement_policy(req),
        disabled=disabled,
        notices=notices,
        require_tokens=bool(req is not None and req.require_tokens),
        allowed_approval_modes=allowed,
        origins=dict(prov.origins),
        profile=profile,
        profile_policy={"approval_modes": [m.model_dump(mode="json", exclude_unset=True) for m in modes]},
        requirements_path=(system_dir / REQUIREMENTS_FILE) if req is not None else None,
        layer_files=tuple(layer.path for layer in layers),
        history={k: list(v) for k, v in prov.history.items()},
        constraints=_constraints(req, req_label, file, disabled),
    )
