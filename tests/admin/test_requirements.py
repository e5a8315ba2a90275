"""Requirements: fail closed on a bad file, mandatory settings win with a notice, the upstream allow-list."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import ConfigError
from tests.admin.helpers import Dirs, stdio


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        ({"allowed_approval_modes": ["sometimes"]}, "allowed_approval_modes[0]"),
        ({"allowed_approval_modes": []}, "allowed_approval_modes"),
        ({"rules": [{"id": "r", "decision": "allow", "justification": "x"}]}, "rules[0] (id 'r'), field 'decision'"),
        ({"rules": [{"id": "r", "decision": "deny"}]}, "rules[0].justification"),
        ({"upstreams": {"allow": [{"name": "x"}]}}, "upstreams.allow[0]"),
        ({"upstreams": {"allow": [{"name": "x", "command": ["a"], "url": "http://x"}]}}, "exactly one of"),
        ({"denied_tools": ["delete_all"]}, "denied_tools"),
        ({"audit": {"fsink": True}}, "audit: Value error, not valid as gateway.audit settings: fsink: unknown key"),
        ({"telemetry": {"enabled": "maybe"}}, "telemetry"),
        ({"network": {"denied_hosts": ["*bad*"]}}, "network.denied_hosts"),
        ({"require_token": True}, "require_token"),
        ("- just a list", "top level must be a mapping"),
        ("key: [unclosed", "YAML syntax error"),
    ],
)
def test_invalid_requirements_stop_loading(dirs: Dirs, requirements: Any, expected: str) -> None:
    path = dirs.requirements(requirements)
    dirs.project_file({"upstreams": {"time": stdio("uvx", "mcp-server-time")}})
    with pytest.raises(ConfigError) as info:
        dirs.load()
    message = str(info.value)
    assert str(path) in message
    assert expected.split(": Value error, ")[0] in message
    if ": Value error, " in expected:
        assert expected.split(": Value error, ")[1] in message


def test_mandatory_audit_and_telemetry_win_with_a_notice(dirs: Dirs) -> None:
    user = dirs.user_file({"gateway": {"audit": {"fsync": False, "preview_chars": 10}}})
    req = dirs.requirements(
        {"audit": {"fsync": True}, "telemetry": {"enabled": True, "endpoint": "https://otel.example.com"}}
    )
    eff = dirs.load()
    assert eff.file.gateway.audit == {"fsync": True, "preview_chars": 10}
    assert eff.file.gateway.telemetry == {"enabled": True, "endpoint": "https://otel.example.com"}
    assert eff.origins["gateway.audit.fsync"] == f"{req} (required)"
    assert eff.origins["gateway.audit.preview_chars"] == str(user)
    [notice] = eff.notices  # telemetry was unset, so replacing nothing needs no notice
    assert notice.startswith("gateway.audit.fsync: false (from ")
    assert str(user) in notice and "replaced by true" in notice and str(req) in notice
    assert "gateway.audit.fsync" in eff.constraints


def test_matching_mandatory_value_gives_no_notice(dirs: Dirs) -> None:
    dirs.user_file({"gateway": {"audit": {"fsync": True}}})
    dirs.requirements({"audit": {"fsync": True}})
    assert dirs.load().notices == []


ALLOW = {
    "upstreams": {
        "allow": [
            {"name": "time", "command": ["uvx", "mcp-server-time"]},
            {"name": "gh*", "url": "https://api.example.com/*"},
        ]
    }
}


@pytest.mark.parametrize(
    ("name", "spec", "reason"),
    [
        ("time", stdio("uvx", "mcp-server-time", "--local-timezone", "UTC"), None),
        ("time", stdio("uvx", "evil-server"), "matches none of the identities"),
        ("time", stdio("uvx"), "matches none of the identities"),  # shorter than the prefix
        ("time", {"url": "https://api.example.com/mcp"}, "matches none of the identities"),
        ("gh-main", {"url": "https://api.example.com/mcp"}, None),
        ("gh-main", {"url": "https://evil.example.com/mcp"}, "url https://evil.example.com/mcp"),
        ("files", stdio("npx", "files"), "its name is not on the allow-list"),
    ],
)
def test_upstream_allow_list(dirs: Dirs, name: str, spec: dict[str, Any], reason: str | None) -> None:
    dirs.requirements(ALLOW)
    dirs.project_file({"upstreams": {name: spec}})
    eff = dirs.load()
    up = eff.file.upstreams[name]
    if reason is None:
        assert up.enabled is True
        assert name not in eff.disabled
        assert eff.notices == []
        assert "admits" in eff.constraints[f"upstreams.{name}"]
    else:
        assert up.enabled is False
        assert reason in eff.disabled[name]
        assert "upstreams.allow" in eff.disabled[name]
        assert eff.notices == [f"upstreams.{name}.enabled: true was replaced by false; {eff.disabled[name]}"]
        assert eff.origins[f"upstreams.{name}.enabled"].endswith("requirements.yaml (required)")


def test_empty_allow_list_disables_everything_and_no_list_disables_nothing(dirs: Dirs) -> None:
    dirs.project_file({"upstreams": {"a": stdio("a"), "b": stdio("b", enabled=False)}})
    assert dirs.load().disabled == {}
    dirs.requirements({"upstreams": {"allow": []}})
    eff = dirs.load()
    assert sorted(eff.disabled) == ["a", "b"]
    assert len(eff.notices) == 1  # "b" was already off: disabled with a reason, but nothing was replaced


def test_scalar_requirements_pass_through(dirs: Dirs) -> None:
    dirs.requirements({"require_tokens": True, "allowed_approval_modes": ["prompt", "never"]})
    eff = dirs.load()
    assert eff.require_tokens is True
    assert eff.allowed_approval_modes == ("prompt", "never")


def test_requirement_policy_shape(dirs: Dirs) -> None:
    dirs.requirements(
        {
            "rules": [{"id": "no-drop", "match": {"tool": "drop_*"}, "decision": "prompt", "justification": "Ask."}],
            "denied_tools": ["files__rm*", {"upstream": "db", "tool": "truncate"}],
            "network": {"denied_hosts": ["metadata"], "allowed_hosts": ["**.example.com"]},
        }
    )
    rules = dirs.load().requirement_policy["rules"]
    assert [r["id"] for r in rules] == [
        "no-drop",
        "requirement:denied-tool:0",
        "requirement:denied-tool:1",
        "requirement:network:denied-hosts",
        "requirement:network:allowed-hosts",
        "requirement:network:allowed-hosts-named",
    ]
    assert rules[0] == {"id": "no-drop", "match": {"tool": "drop_*"}, "decision": "prompt", "justification": "Ask."}
    assert rules[1]["match"] == {"upstream": "files", "tool": "rm*"}
    assert rules[2]["match"] == {"upstream": "db", "tool": "truncate"}
    assert all(r["decision"] == "deny" for r in rules[1:])


def test_required_tokens_force_the_gateway_setting(dirs: Dirs) -> None:
    project = dirs.project_file({"gateway": {"require_tokens": False}})
    dirs.requirements({"require_tokens": True})
    eff = dirs.load()
    assert eff.file.gateway.require_tokens is True
    assert eff.require_tokens is True
    [notice] = eff.notices
    assert notice.startswith(f"gateway.require_tokens: false (from {project.resolve()}) was replaced by true")
