"""Administrative control: configuration layers, managed defaults, profiles and requirements users cannot loosen.

Typical use::

    effective = await anyio.to_thread.run_sync(partial(load_effective, config_path, system_dir=..., profile=...))
    policies, notices = await anyio.to_thread.run_sync(load_policy_set, effective)
    for notice in effective.notices + notices:
        log.warning("config constrained", notice=notice)

See ``docs/admin.md`` for the file formats and the merge rules.
"""

from gateway.admin.effective import Effective, load_effective
from gateway.admin.layers import default_profile, default_system_dir, default_user_dir
from gateway.admin.modes import MODE_ORDER, constrain_mode_entries, constrain_policy_modes, strictest_allowed
from gateway.admin.policies import load_policy_set
from gateway.admin.requirement_policy import requirement_policy
from gateway.admin.requirements import Requirements, load_requirements

__all__ = [
    "MODE_ORDER",
    "Effective",
    "Requirements",
    "constrain_mode_entries",
    "constrain_policy_modes",
    "default_profile",
    "default_system_dir",
    "default_user_dir",
    "load_effective",
    "load_policy_set",
    "load_requirements",
    "requirement_policy",
    "strictest_allowed",
]
