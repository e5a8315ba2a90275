"""``config explain KEY``: why a dotted key has its value, which layers set it, and which requirement bounds it."""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

from gateway.admin.merge import flatten
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.admin.effective import Effective

__all__ = ["effective_values", "explain_key"]

BUILT_IN = "built-in default"


def effective_values(effective: Effective) -> dict[str, Any]:
    """Every leaf of the effective configuration by dotted key, plus the admin-only keys explain knows."""
    values = dict(flatten(effective.file.model_dump(mode="json")))
    values["approval_modes"] = effective.profile_policy.get("approval_modes", [])
    values["require_tokens"] = effective.require_tokens
    values["allowed_approval_modes"] = (
        list(effective.allowed_approval_modes) if effective.allowed_approval_modes is not None else None
    )
    return values


def _show(value: Any) -> str:
    return json.dumps(value, default=str)


def _related(key: str, other: str) -> bool:
    return key == other or key.startswith(other + ".") or other.startswith(key + ".")


def _one(effective: Effective, key: str, value: Any) -> list[str]:
    lines = [f"{key} = {_show(value)}", f"  origin: {effective.origins.get(key, BUILT_IN)}"]
    setters = effective.history.get(key, [])
    if setters:
        lines.append("  set by (lowest to highest precedence):")
        lines += [f"    {label}: {_show(v)}" for label, v in setters]
    else:
        lines.append("  no layer sets it; the built-in default applies")
    return lines


def explain_key(effective: Effective, key: str) -> str:
    """A multi-line explanation of ``key`` (a leaf, or a prefix such as ``upstreams.time``)."""
    key = key.strip().strip(".")
    values = effective_values(effective)
    leaves = [k for k in values if k == key] or [k for k in values if k.startswith(key + ".")]
    constraints = [(k, why) for k, why in effective.constraints.items() if _related(key, k)]
    if not leaves and not constraints:
        close = difflib.get_close_matches(key, sorted(values), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `mcp-gateway config show` for the keys"
        raise ConfigError(f"unknown configuration key '{key}'{hint}")
    lines: list[str] = []
    if len(leaves) > 1:
        # For a prefix, the keys nobody set would drown the ones that matter; count them instead.
        defaults = [leaf for leaf in leaves if leaf not in effective.history]
        leaves = [leaf for leaf in leaves if leaf in effective.history]
        if defaults:
            names = ", ".join(d[len(key) + 1 :] for d in defaults)
            lines.append(f"{key}: {len(defaults)} key(s) keep their built-in default ({names})")
    for leaf in leaves:
        lines += _one(effective, leaf, values[leaf])
    name = key.split(".")[1] if key.startswith("upstreams.") and key.count(".") >= 1 else None
    if name and name in effective.disabled:
        lines.append(f"  upstream '{name}' is disabled: {effective.disabled[name]}")
    if constraints:
        lines.append("constrained by:")
        lines += [f"  {k}: {why}" for k, why in constraints]
    else:
        lines.append("constrained by: nothing (no requirement applies to this key)")
    for notice in effective.notices:
        if key in notice or any(notice.startswith(leaf + ":") for leaf in leaves):
            lines.append(f"notice: {notice}")
    return "\n".join(lines)
