"""The policy file requirements turn into: requirement rules, denied tools and network limits as ``rules:``.

The result is a plain ``{"rules": [...]}`` mapping in the ``policies/*.yaml`` format, loaded as one extra policy
file. Every rule is ``prompt`` or ``deny``, so no user ``allow`` rule can loosen it (the strictest decision wins).

Generated rule ids:

* ``requirement:denied-tool:N`` for ``denied_tools[N]``;
* ``requirement:network:denied-hosts`` (any string argument whose URL host is denied);
* ``requirement:network:allowed-hosts`` (a ``scheme://`` URL in any argument whose host is not allowed) and
  ``requirement:network:allowed-hosts-named`` (URL-named arguments such as ``url``/``endpoint``/``host``, even
  without a scheme).
"""

from __future__ import annotations

from typing import Any

from gateway.admin.requirements import Requirements

__all__ = ["URL_ARGUMENT_NAMES", "requirement_policy"]

URL_ARGUMENT_NAMES = "*url|*url?|*_uri|uri|*endpoint|*host|*hostname|*href"
"""Argument names (globs, '|'-separated) treated as URLs or hosts even when the value has no scheme."""

_SCHEME = r"^\s*[A-Za-z][A-Za-z0-9+.-]*://"


def _denied_tool_rules(req: Requirements) -> list[dict[str, Any]]:
    rules = []
    for index, (upstream, tool) in enumerate(req.denied_pairs()):
        rules.append(
            {
                "id": f"requirement:denied-tool:{index}",
                "match": {"upstream": upstream, "tool": tool},
                "decision": "deny",
                "justification": f"The administrator's requirements deny this tool (denied_tools[{index}]).",
            }
        )
    return rules


def _network_rules(req: Requirements) -> list[dict[str, Any]]:
    net = req.network
    rules: list[dict[str, Any]] = []
    if net.denied_hosts:
        rules.append(
            {
                "id": "requirement:network:denied-hosts",
                "match": {"arguments": {"*": {"url_host": list(net.denied_hosts)}}},
                "decision": "deny",
                "justification": "The administrator's requirements deny this network host (network.denied_hosts).",
            }
        )
    if net.allowed_hosts is not None:
        why = "The administrator's requirements allow only listed network hosts (network.allowed_hosts)."
        allowed = list(net.allowed_hosts)
        rules.append(
            {
                "id": "requirement:network:allowed-hosts",
                "match": {"arguments": {"*": {"regex": _SCHEME, "url_host_not": allowed}}},
                "decision": "deny",
                "justification": why,
            }
        )
        rules.append(
            {
                "id": "requirement:network:allowed-hosts-named",
                "match": {"arguments": {URL_ARGUMENT_NAMES: {"url_host_not": allowed}}},
                "decision": "deny",
                "justification": why,
            }
        )
    return rules


def requirement_policy(req: Requirements | None) -> dict[str, Any]:
    """The policy-file-shaped mapping for ``req`` (``{"rules": []}`` when there are no requirements)."""
    if req is None:
        return {"rules": []}
    own = [rule.model_dump(mode="json", exclude_unset=True) for rule in req.rules]
    return {"rules": own + _denied_tool_rules(req) + _network_rules(req)}
