"""``load_policy_set``: the policy set in force under the administrator's requirements.

It loads every ``*.yaml`` in the user, project and managed policy directories (in that order), then:

* drops any rule whose id is also a requirement rule's id (the requirement rule stays in force), with a notice;
* holds every ``approval_modes`` entry (files and the selected profile) to ``allowed_approval_modes``;
* adds the requirement policy (requirement rules, denied tools, network limits) as one more file, named after
  ``requirements.yaml`` so decisions and audit records name it.

Synchronous (reads files); call it through ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from gateway.admin.effective import Effective
from gateway.admin.modes import catch_all, constrain_mode_entries
from gateway.errors import ConfigError
from gateway.policy.engine import SEVERITY, CompiledRule, PolicySet
from gateway.policy.loader import load_policy_file, policy_files
from gateway.policy.models import ApprovalModeEntry, DecisionValue, PolicyFile

__all__ = ["REQUIREMENT_POLICY_LABEL", "load_policy_set"]

REQUIREMENT_POLICY_LABEL = "requirements.yaml (required)"


def _requirement_rules(effective: Effective) -> list[CompiledRule]:
    label = f"{effective.requirements_path} (required)" if effective.requirements_path else REQUIREMENT_POLICY_LABEL
    try:
        spec = PolicyFile.model_validate(effective.requirement_policy)
    except ValidationError as exc:  # generated from a validated file, so this is a bug, not a user error
        raise ConfigError(f"internal error building the requirement policy: {exc}", path=label) from None
    return [CompiledRule.compile(rule, label) for rule in spec.rules]


def _version(rules: list[CompiledRule], modes: list[ApprovalModeEntry], default: DecisionValue) -> str:
    # Same idea as gateway.policy.loader: independent of order, dependent on every rule's content.
    blob = json.dumps(
        {
            "rules": sorted((r.spec.model_dump(mode="json") for r in rules), key=lambda d: str(d["id"])),
            "modes": sorted(json.dumps(m.model_dump(mode="json"), sort_keys=True) for m in modes),
            "default": default,
        },
        sort_keys=True,
        default=str,
    )
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_policy_set(effective: Effective, extra_files: Sequence[Path] = ()) -> tuple[PolicySet, list[str]]:
    """The constrained policy set and the notices for what was dropped or replaced.

    ``extra_files`` (e.g. the user's "always allow" file) load after the directories, like ``load_policies``.
    Raises ConfigError for an invalid file or a rule id defined twice outside the requirements.
    """
    required = _requirement_rules(effective)
    required_ids = {r.id for r in required}
    allowed = effective.allowed_approval_modes
    files: list[Path] = []
    for directory in effective.policy_dirs:
        files += [f for f in policy_files(directory) if f not in files]
    files += [f for f in policy_files(None, extra_files) if f not in files]
    rules: list[CompiledRule] = []
    modes: list[ApprovalModeEntry] = []
    defaults: list[DecisionValue] = []
    notices: list[str] = []
    owners: dict[str, Path] = {}
    for path in files:
        spec, compiled, _ = load_policy_file(path)
        for rule in compiled:
            if rule.id in required_ids:
                notices.append(
                    f"rule '{rule.id}' in {path} was dropped: a requirement rule has that id and stays in force"
                )
                continue
            if rule.id in owners:
                raise ConfigError(
                    f"rule id '{rule.id}' is also defined in {owners[rule.id]}; rule ids must be unique across files",
                    path=str(path),
                    location=f"rule '{rule.id}', field 'id'",
                )
            owners[rule.id] = path
            rules.append(rule)
        kept, mode_notices = constrain_mode_entries(spec.approval_modes, allowed, str(path))
        modes += kept
        notices += mode_notices
        if spec.default_decision is not None:
            defaults.append(spec.default_decision)
    profile_modes = [ApprovalModeEntry.model_validate(m) for m in effective.profile_policy.get("approval_modes", [])]
    modes += profile_modes + catch_all(allowed)
    rules += required
    default: DecisionValue = max(defaults, key=lambda d: SEVERITY[d]) if defaults else "prompt"
    label_file = effective.requirements_path
    policy_set = PolicySet(
        rules,
        default_decision=default,
        approval_modes=modes,
        policy_version=_version(rules, modes, default),
        files=tuple(files) + ((label_file,) if label_file is not None and required else ()),
    )
    return policy_set, notices
