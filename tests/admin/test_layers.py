"""Layering: defaults -> user -> project -> managed, per-field merge, profiles, origins."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.admin import load_effective
from gateway.config.models import HttpUpstream, StdioUpstream
from gateway.errors import ConfigError
from tests.admin.helpers import Dirs, stdio


def test_precedence_and_per_field_merge(dirs: Dirs) -> None:
    user = dirs.user_file(
        {
            "gateway": {"audit": {"fsync": False, "preview_chars": 100}},
            "upstreams": {"time": stdio("uvx", "mcp-server-time", description="user's", call_timeout=5)},
        }
    )
    project = dirs.project_file({"upstreams": {"time": {"args": ["mcp-server-time", "--tz", "UTC"]}}})
    managed = dirs.managed_file({"gateway": {"audit": {"fsync": True}}})

    eff = dirs.load()

    time = eff.file.upstreams["time"]
    assert isinstance(time, StdioUpstream)
    assert time.command == "uvx"  # user, untouched by the project's partial entry
    assert time.args == ["mcp-server-time", "--tz", "UTC"]  # lists replace, never concatenate
    assert time.call_timeout == 5
    assert eff.file.gateway.audit == {"fsync": True, "preview_chars": 100}
    assert eff.origins["upstreams.time.command"] == str(user)
    assert eff.origins["upstreams.time.args"] == str(project)
    assert eff.origins["gateway.audit.fsync"] == str(managed)
    assert eff.origins["gateway.audit.preview_chars"] == str(user)
    assert "upstreams.time.startup_timeout" not in eff.origins  # a built-in default
    assert [label for label, _ in eff.history["gateway.audit.fsync"]] == [str(user), str(managed)]
    assert eff.path == dirs.config.resolve()
    assert eff.policy_dirs == [dirs.user / "policies", dirs.project / "policies", dirs.system / "policies"]
    assert eff.notices == []


@pytest.mark.parametrize(
    ("user", "project", "expected"),
    [
        # (user layer, project layer, expected fields of upstream "x")
        (stdio("a", "1", "2"), {"args": ["3"]}, {"command": "a", "args": ["3"]}),
        (stdio("a", env={"A": "1", "B": "2"}), {"env": {"B": "9"}}, {"env": {"A": "1", "B": "9"}}),
        (stdio("a", disabled_tools=["x*"]), {"disabled_tools": []}, {"disabled_tools": []}),
        (stdio("a"), {"enabled": False}, {"enabled": False, "command": "a"}),
        # a transport change replaces the whole entry (stdio and HTTP fields cannot mix)
        (stdio("a", env={"A": "1"}), {"url": "https://x.example/mcp"}, {"url": "https://x.example/mcp"}),
    ],
)
def test_merge_table(
    dirs: Dirs, user: dict[str, object], project: dict[str, object], expected: dict[str, object]
) -> None:
    dirs.user_file({"upstreams": {"x": user}})
    dirs.project_file({"upstreams": {"x": project}})
    up = dirs.load().file.upstreams["x"]
    for field, value in expected.items():
        assert getattr(up, field) == value, field


def test_transport_change_forgets_old_origins(dirs: Dirs) -> None:
    dirs.user_file({"upstreams": {"x": stdio("a", env={"A": "1"})}})
    project = dirs.project_file({"upstreams": {"x": {"url": "https://x.example/mcp"}}})
    eff = dirs.load()
    assert isinstance(eff.file.upstreams["x"], HttpUpstream)
    assert "upstreams.x.command" not in eff.origins
    assert eff.origins["upstreams.x.url"] == str(project)


def test_profile_overlays_its_own_layer_but_managed_still_wins(dirs: Dirs) -> None:
    user = dirs.user_file(
        {
            "upstreams": {"time": stdio("uvx", "mcp-server-time")},
            "profiles": {"ci": {"gateway": {"hide_denied_tools": False, "max_message_bytes": 10}}},
        }
    )
    dirs.project_file({"gateway": {"max_message_bytes": 20}})
    dirs.managed_file({"gateway": {"hide_denied_tools": True}})

    plain = dirs.load()
    ci = dirs.load(profile="ci")

    assert plain.file.gateway.max_message_bytes == 20
    assert ci.file.gateway.max_message_bytes == 20  # the project file is above the user's profile
    assert ci.file.gateway.hide_denied_tools is True  # managed beats the profile
    assert ci.history["gateway.hide_denied_tools"][0] == (f"{user} (profile ci)", False)
    assert ci.profile == "ci"


def test_project_profile_overrides_project_base(dirs: Dirs) -> None:
    project = dirs.project_file(
        {
            "upstreams": {"time": stdio("uvx", "mcp-server-time")},
            "profiles": {"prod": {"upstreams": {"time": {"call_timeout": 9}}}},
        }
    )
    eff = dirs.load(profile="prod")
    assert eff.file.upstreams["time"].call_timeout == 9
    assert eff.origins["upstreams.time.call_timeout"] == f"{project.resolve()} (profile prod)"


def test_profile_from_environment(dirs: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    dirs.project_file({"profiles": {"dev": {"gateway": {"max_message_bytes": 7}}}})
    monkeypatch.setenv("MCP_GATEWAY_PROFILE", "dev")
    assert dirs.load().file.gateway.max_message_bytes == 7


def test_unknown_profile_lists_known_ones(dirs: Dirs) -> None:
    dirs.user_file({"profiles": {"ci": {}, "dev": {}}})
    dirs.managed_file({"profiles": {"prod": {}}})
    with pytest.raises(ConfigError) as info:
        dirs.load(profile="staging")
    message = str(info.value)
    assert "unknown profile 'staging'" in message
    assert "ci, dev, prod" in message


def test_profile_with_unknown_key_is_rejected(dirs: Dirs) -> None:
    dirs.project_file({"profiles": {"ci": {"rules": []}}})
    with pytest.raises(ConfigError) as info:
        dirs.load(profile="ci")
    assert "profiles.ci" in str(info.value)
    assert "'rules'" in str(info.value)


def test_invalid_merged_value_names_the_layers(dirs: Dirs) -> None:
    dirs.user_file({"upstreams": {"time": stdio("uvx")}})
    dirs.project_file({"upstreams": {"time": {"call_timeout": -1}}})
    with pytest.raises(ConfigError) as info:
        dirs.load()
    assert "call_timeout" in str(info.value)
    assert str(dirs.user / "upstreams.yaml") in str(info.value)


def test_missing_files_give_defaults(dirs: Dirs) -> None:
    eff = dirs.load()
    assert eff.file.upstreams == {}
    assert eff.origins == {}
    assert eff.layer_files == ()
    assert eff.requirement_policy == {"rules": []}
    assert eff.require_tokens is False
    assert eff.allowed_approval_modes is None


def test_default_directories_come_from_the_environment(dirs: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    dirs.user_file({"upstreams": {"u": stdio("u")}})
    dirs.managed_file({"upstreams": {"m": stdio("m")}})
    monkeypatch.setenv("MCP_GATEWAY_SYSTEM_DIR", str(dirs.system))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(dirs.root))
    monkeypatch.chdir(dirs.project)
    # XDG_CONFIG_HOME/mcp-gateway: the user layer lives in <root>/mcp-gateway, not <root>/user
    (dirs.root / "mcp-gateway").mkdir()
    (dirs.root / "mcp-gateway" / "upstreams.yaml").write_text('{"upstreams": {"x": {"command": "x"}}}')
    eff = load_effective(Path("upstreams.yaml"))
    assert sorted(eff.file.upstreams) == ["m", "x"]
