"""Applying requirements to the merged configuration: mandatory audit/telemetry values and the upstream allow-list.

* ``audit:`` / ``telemetry:`` in ``requirements.yaml`` are merged *over* ``gateway.audit`` / ``gateway.telemetry``
  after every layer (and profile) was applied; a layer value that differs is replaced and a notice says so.
  ``require_tokens: true`` likewise forces ``gateway.require_tokens: true``.
* ``upstreams.allow``: an upstream is allowed when an entry matches its name (glob) **and** its identity: for stdio,
  ``command`` is a prefix of ``[command, *args]`` (each word a glob); for HTTP, ``url`` is a glob on the URL.
  Any other upstream is disabled (``enabled: false``) with the reason.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from gateway.admin.merge import Provenance, flatten, merge_layer
from gateway.admin.requirements import Requirements, UpstreamAllowEntry
from gateway.config.models import HttpUpstream, StdioUpstream, UpstreamsFile

__all__ = ["allow_list_reasons", "apply_mandatory", "disable_upstreams", "entry_allows"]


def _show(value: Any) -> str:
    return json.dumps(value, default=str)


def apply_mandatory(
    merged: dict[str, Any], req: Requirements, prov: Provenance, label: str
) -> tuple[dict[str, Any], list[str]]:
    """Merge the mandatory ``audit``/``telemetry`` values over ``merged``; notices for every value replaced."""
    notices: list[str] = []
    for section in ("audit", "telemetry"):
        required: dict[str, Any] = getattr(req, section)
        if not required:
            continue
        current = (merged.get("gateway") or {}).get(section) or {}
        before = dict(flatten(current, ("gateway", section)))
        previous_origin = {k: prov.origins.get(k) for k in before}
        merged = merge_layer(merged, {"gateway": {section: required}}, label, prov)
        for key, value in flatten(required, ("gateway", section)):
            if key in before and before[key] != value:
                notices.append(
                    f"{key}: {_show(before[key])} (from {previous_origin[key] or 'a layer'}) was replaced by "
                    f"{_show(value)} because {label} makes it mandatory"
                )
    if req.require_tokens:
        # Required tokens are a mandatory gateway.require_tokens: true; a layer saying false is overridden.
        before_value = (merged.get("gateway") or {}).get("require_tokens")
        before_origin = prov.origins.get("gateway.require_tokens")
        merged = merge_layer(merged, {"gateway": {"require_tokens": True}}, label, prov)
        if before_value is False:
            notices.append(
                f"gateway.require_tokens: false (from {before_origin or 'a layer'}) was replaced by true because "
                f"{label} requires HTTP clients to present a token"
            )
    return merged, notices


def entry_allows(entry: UpstreamAllowEntry, name: str, upstream: StdioUpstream | HttpUpstream) -> bool:
    """Does this allow-list entry match the upstream's name and identity?"""
    if not fnmatchcase(name, entry.name):
        return False
    if entry.command is not None:
        if not isinstance(upstream, StdioUpstream):
            return False
        argv = [upstream.command, *upstream.args]
        prefix = entry.command
        return len(argv) >= len(prefix) and all(fnmatchcase(a, p) for a, p in zip(argv, prefix, strict=False))
    if entry.url is not None:
        return isinstance(upstream, HttpUpstream) and fnmatchcase(upstream.url, entry.url)
    return False


def _identity(upstream: StdioUpstream | HttpUpstream) -> str:
    if isinstance(upstream, StdioUpstream):
        return "command " + _show([upstream.command, *upstream.args])
    return f"url {upstream.url}"


def allow_list_reasons(file: UpstreamsFile, req: Requirements | None, label: str) -> dict[str, str]:
    """Upstream name -> why it is disabled, for every upstream the allow-list does not admit."""
    if req is None or req.upstreams.allow is None:
        return {}
    allow = req.upstreams.allow
    reasons: dict[str, str] = {}
    for name, upstream in file.upstreams.items():
        if any(entry_allows(e, name, upstream) for e in allow):
            continue
        named = [e for e in allow if fnmatchcase(name, e.name)]
        if named:
            why = f"its {_identity(upstream)} matches none of the identities allowed for this name"
        else:
            why = "its name is not on the allow-list"
        reasons[name] = f"disabled by {label} (upstreams.allow): {why}"
    return reasons


def disable_upstreams(
    file: UpstreamsFile, reasons: dict[str, str], prov: Provenance, label: str
) -> tuple[UpstreamsFile, list[str]]:
    """Set ``enabled: false`` on the upstreams in ``reasons``; a notice for each one a layer had enabled."""
    if not reasons:
        return file, []
    notices = []
    upstreams = dict(file.upstreams)
    for name, reason in reasons.items():
        up = upstreams[name]
        if up.enabled:
            notices.append(f"upstreams.{name}.enabled: true was replaced by false; {reason}")
        upstreams[name] = up.model_copy(update={"enabled": False})
        prov.record(f"upstreams.{name}.enabled", label, False)
    return file.model_copy(update={"upstreams": upstreams}), notices
