"""`mcp-gateway config show/explain` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gateway.cli.config import app
from tests.admin.helpers import Dirs, stdio

runner = CliRunner()


@pytest.fixture
def setup(dirs: Dirs) -> Dirs:
    dirs.user_file({"gateway": {"audit": {"fsync": False}}, "upstreams": {"time": stdio("uvx", "mcp-server-time")}})
    dirs.project_file(
        {
            "upstreams": {"files": stdio("npx", "files"), "time": {"call_timeout": 9}},
            "profiles": {"ci": {"upstreams": {"time": {"call_timeout": 1}}}},
        }
    )
    dirs.requirements(
        {"audit": {"fsync": True}, "upstreams": {"allow": [{"name": "time", "command": ["uvx", "mcp-server-time"]}]}}
    )
    return dirs


def _args(dirs: Dirs, *extra: str) -> list[str]:
    return [*extra, "--config", str(dirs.config), "--system-dir", str(dirs.system), "--user-dir", str(dirs.user)]


def test_show_origin_annotates_each_value(setup: Dirs) -> None:
    result = runner.invoke(app, _args(setup, "show", "--origin"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    fsync = next(line for line in lines if line.strip().startswith("fsync:"))
    assert "true" in fsync and f"{setup.system / 'requirements.yaml'} (required)" in fsync
    command = next(line for line in lines if line.strip().startswith("command: uvx"))
    assert str(setup.user / "upstreams.yaml") in command
    timeout = next(line for line in lines if "call_timeout: 9" in line)
    assert str(setup.config.resolve()) in timeout
    assert any("startup_timeout: 30.0" in line and "built-in default" in line for line in lines)
    # the disabled upstream carries its reason, and the notices go to stderr
    assert "its name is not on the allow-list" in result.stdout
    assert "notice:" in result.stderr and "gateway.audit.fsync" in result.stderr


def test_show_without_origin_is_plain_yaml(setup: Dirs) -> None:
    result = runner.invoke(app, _args(setup, "show"))
    assert result.exit_code == 0, result.output
    assert "#" not in result.stdout
    assert "call_timeout: 9" in result.stdout


def test_show_json_with_profile(setup: Dirs) -> None:
    result = runner.invoke(app, _args(setup, "show", "--json", "--origin", "--profile", "ci"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["config"]["upstreams"]["time"]["call_timeout"] == 1
    assert data["origins"]["upstreams.time.call_timeout"].endswith("(profile ci)")
    assert data["disabled"]["files"].endswith("its name is not on the allow-list")
    assert data["profile"] == "ci"
    assert data["config"]["upstreams"]["files"]["enabled"] is False


def test_profile_and_system_dir_from_environment(setup: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_GATEWAY_SYSTEM_DIR", str(setup.system))
    monkeypatch.setenv("MCP_GATEWAY_PROFILE", "ci")
    args = ["show", "--json", "--config", str(setup.config), "--user-dir", str(setup.user)]
    data = json.loads(runner.invoke(app, args).stdout)
    assert data["config"]["upstreams"]["time"]["call_timeout"] == 1
    assert data["config"]["gateway"]["audit"]["fsync"] is True


def test_explain_a_constrained_value(setup: Dirs) -> None:
    result = runner.invoke(app, _args(setup, "explain", "gateway.audit.fsync"))
    assert result.exit_code == 0, result.output
    req = f"{setup.system / 'requirements.yaml'} (required)"
    assert result.stdout.splitlines()[:2] == ["gateway.audit.fsync = true", f"  origin: {req}"]
    assert f"    {setup.user / 'upstreams.yaml'}: false" in result.stdout
    assert f"    {req}: true" in result.stdout
    assert "constrained by:" in result.stdout and "(mandatory value)" in result.stdout
    assert "notice: gateway.audit.fsync: false" in result.stdout


def test_explain_a_disabled_upstream(setup: Dirs) -> None:
    result = runner.invoke(app, _args(setup, "explain", "upstreams.files.enabled"))
    assert result.exit_code == 0, result.output
    assert "upstreams.files.enabled = false" in result.stdout
    assert "upstream 'files' is disabled" in result.stdout
    assert "its name is not on the allow-list" in result.stdout


def test_explain_a_default_and_json(setup: Dirs) -> None:
    result = runner.invoke(app, _args(setup, "explain", "gateway.max_message_bytes", "--json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "origin: built-in default" in data["explanation"]
    assert "constrained by: nothing" in data["explanation"]
    assert data["history"] == {}


def test_explain_unknown_key_fails_with_a_suggestion(setup: Dirs) -> None:
    result = runner.invoke(app, _args(setup, "explain", "gateway.max_mesage_bytes"))
    assert result.exit_code == 2
    assert "unknown configuration key" in result.stderr
    assert "gateway.max_message_bytes" in result.stderr


def test_invalid_requirements_fail_the_command(setup: Dirs) -> None:
    setup.requirements({"rules": [{"id": "r", "decision": "allow", "justification": "x"}]})
    result = runner.invoke(app, _args(setup, "show"))
    assert result.exit_code == 2
    assert "requirements.yaml" in result.stderr and "decision" in result.stderr


def test_unknown_profile_fails(setup: Dirs) -> None:
    result = runner.invoke(app, _args(setup, "show", "--profile", "nope"))
    assert result.exit_code == 2
    assert "known profiles: ci" in result.stderr
