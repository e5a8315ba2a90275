"""Holding approval modes to ``allowed_approval_modes`` from ``requirements.yaml``.

A mode entry whose mode is not allowed is replaced by the strictest allowed mode (``approve`` < ``auto`` <
``prompt`` < ``never``) and a notice names the entry, the file and the replacement. When ``auto`` (the implicit
mode of every tool without an entry) is not allowed, a catch-all entry ``{upstream: "*", mode: <strictest>}`` is
added; more specific (constrained) entries still win over it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from gateway.policy.engine import PolicySet
from gateway.policy.models import ApprovalMode, ApprovalModeEntry

__all__ = ["MODE_ORDER", "catch_all", "constrain_mode_entries", "constrain_policy_modes", "strictest_allowed"]

MODE_ORDER: tuple[ApprovalMode, ...] = ("approve", "auto", "prompt", "never")
"""Approval modes, least strict first."""


def strictest_allowed(allowed: Sequence[str]) -> ApprovalMode:
    """The strictest mode in ``allowed`` (which must not be empty)."""
    return max((m for m in MODE_ORDER if m in allowed), key=MODE_ORDER.index)


def _describe(entry: ApprovalModeEntry) -> str:
    target = f"upstream '{entry.upstream}'" + (f", tool '{entry.tool}'" if entry.tool else "")
    return f"approval mode '{entry.mode}' for {target}"


def constrain_mode_entries(
    entries: Sequence[ApprovalModeEntry], allowed: Sequence[str] | None, source: str
) -> tuple[list[ApprovalModeEntry], list[str]]:
    """Replace disallowed modes in ``entries`` (from ``source``, e.g. a file); returns (entries, notices)."""
    if allowed is None:
        return list(entries), []
    target = strictest_allowed(allowed)
    out: list[ApprovalModeEntry] = []
    notices: list[str] = []
    for entry in entries:
        if entry.mode in allowed:
            out.append(entry)
            continue
        notices.append(
            f"{_describe(entry)} in {source} was replaced by '{target}': requirements allow only "
            f"{', '.join(allowed)} (the strictest allowed mode is used)"
        )
        out.append(entry.model_copy(update={"mode": target}))
    return out, notices


def catch_all(allowed: Sequence[str] | None) -> list[ApprovalModeEntry]:
    """The extra ``{upstream: "*"}`` entry needed when the implicit ``auto`` mode is not allowed."""
    if allowed is None or "auto" in allowed:
        return []
    return [ApprovalModeEntry(upstream="*", mode=strictest_allowed(allowed))]


def constrain_policy_modes(policy_set: PolicySet, allowed: Sequence[str] | None) -> tuple[PolicySet, list[str]]:
    """A copy of ``policy_set`` whose approval modes all lie in ``allowed``, plus the notices.

    The rules, default decision and files are kept; ``approval_modes`` change, and so does ``policy_version`` when
    they did (approvals are bound to the version).
    """
    if allowed is None:
        return policy_set, []
    source = ", ".join(str(f) for f in policy_set.files) or "the policy files"
    modes, notices = constrain_mode_entries(policy_set.approval_modes, allowed, source)
    modes += catch_all(allowed)
    version = policy_set.policy_version
    if list(policy_set.approval_modes) != modes:
        blob = json.dumps([m.model_dump(mode="json") for m in modes], sort_keys=True)
        version = f"{version}+modes:{hashlib.sha256(blob.encode()).hexdigest()[:8]}"
    adjusted = PolicySet(
        list(policy_set.rules),
        default_decision=policy_set.default_decision,
        approval_modes=modes,
        policy_version=version,
        files=policy_set.files,
    )
    return adjusted, notices
