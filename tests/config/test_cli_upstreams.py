"""`mcp-gateway upstreams ...` end to end through typer's CliRunner."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.app import app
from gateway.config.loader import load_config
from gateway.config.models import HttpUpstream, StdioUpstream
from gateway.config.secrets import SecretRef
from gateway.config.status import GatewayStatus, UpstreamStatus, write_status

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "upstreams.yaml"


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_add_stdio_with_secret_env_and_trailing_args(config: Path) -> None:
    run("upstreams", "add", "git", "--command", "uvx", "--env", "LOG=debug", "--secret-env", "TOKEN=gh-token",
        "-c", str(config), "--", "mcp-server-git", "--repo", ".")  # fmt: skip
    up = load_config(config).file.upstreams["git"]
    assert isinstance(up, StdioUpstream)
    assert up.args == ["mcp-server-git", "--repo", "."]
    assert up.env == {"LOG": "debug", "TOKEN": SecretRef(secret="gh-token")}


def test_add_http_with_secret_header_template(config: Path) -> None:
    run("upstreams", "add", "web", "--url", "https://x.example/mcp", "--header", "X-Org=7",
        "--secret-header", "Authorization=web-token:Bearer {secret}", "--prefix", "w", "-c", str(config))  # fmt: skip
    up = load_config(config).file.upstreams["web"]
    assert isinstance(up, HttpUpstream)
    assert up.headers["Authorization"] == SecretRef(secret="web-token", template="Bearer {secret}")
    assert up.headers["X-Org"] == "7" and up.prefix == "w"


def test_add_errors_exit_2(config: Path) -> None:
    out = run("upstreams", "add", "x", "-c", str(config), code=2)
    assert "exactly one of --command" in out
    out = run("upstreams", "add", "Bad_Name", "--command", "x", "-c", str(config), code=2)
    assert "e.g. 'bad-name'" in out
    assert not config.exists()
    run("upstreams", "add", "a", "--command", "x", "-c", str(config))
    out = run("upstreams", "add", "a", "--command", "y", "-c", str(config), code=2)
    assert "already exists" in out
    run("upstreams", "add", "a", "--command", "y", "--replace", "-c", str(config))
    assert getattr(load_config(config).file.upstreams["a"], "command", None) == "y"


def test_list_json_disable_enable_remove(config: Path) -> None:
    run("upstreams", "add", "a", "--command", "x", "-c", str(config))
    run("upstreams", "add", "b", "--url", "http://127.0.0.1:9/mcp?token=abc", "-c", str(config))
    run("upstreams", "disable", "b", "-c", str(config))
    data = json.loads(run("upstreams", "list", "--json", "-c", str(config)))
    assert data["gateway_running"] is False
    rows = {r["name"]: r for r in data["upstreams"]}
    assert rows["a"]["state"] == "not running" and rows["a"]["transport"] == "stdio"
    assert rows["b"]["state"] == "disabled" and rows["b"]["enabled"] is False
    assert "token=abc" not in rows["b"]["target"]
    run("upstreams", "enable", "b", "-c", str(config))
    assert load_config(config).file.upstreams["b"].enabled is True
    run("upstreams", "remove", "a", "-c", str(config))
    assert list(load_config(config).file.upstreams) == ["b"]
    out = run("upstreams", "remove", "a", "-c", str(config), code=2)
    assert "known upstreams: b" in out


def test_list_shows_live_status(config: Path) -> None:
    run("upstreams", "add", "a", "--command", "x", "-c", str(config))
    run("upstreams", "add", "b", "--command", "y", "-c", str(config))
    now = datetime.now(UTC)
    status = GatewayStatus(
        pid=os.getpid(),
        started=now,
        updated=now,
        upstreams={"a": UpstreamStatus(state="ready", transport="stdio", tools=3, protocol="2025-11-25")},
    )
    write_status(load_config(config).state_dir, status)
    rows = {r["name"]: r for r in json.loads(run("upstreams", "list", "--json", "-c", str(config)))["upstreams"]}
    assert rows["a"]["state"] == "ready" and rows["a"]["tools"] == 3 and rows["a"]["protocol"] == "2025-11-25"
    assert rows["b"]["state"] == "not loaded"
    table = run("upstreams", "list", "-c", str(config))
    assert "ready" in table and "not loaded" in table


def test_import_dry_run_then_real(config: Path, tmp_path: Path) -> None:
    source = tmp_path / "claude_desktop_config.json"
    source.write_text(
        json.dumps(
            {"mcpServers": {"My_Git": {"command": "uvx", "args": ["mcp-server-git"], "env": {"GH_TOKEN": "ghp_x"}}}}
        )
    )
    out = run("upstreams", "import", str(source), "--dry-run", "-c", str(config))
    assert "my-git:" in out and "{secret: my-git-gh_token}" in out
    assert "renamed 'My_Git' -> 'my-git'" in out
    assert "mcp-gateway creds set my-git-gh_token" in out
    assert "ghp_x" not in out
    assert not config.exists()
    run("upstreams", "import", str(source), "-c", str(config))
    assert list(load_config(config).file.upstreams) == ["my-git"]
    assert "ghp_x" not in config.read_text()
    data = json.loads(run("upstreams", "import", str(source), "--json", "-c", str(config)))
    assert data["skipped"] == {"my-git": "an upstream with this name exists (use --replace to overwrite it)"}
    assert data["added"] == []


def test_check_stub_is_registered(config: Path) -> None:
    out = run("upstreams", "check", "--help")
    assert "upstreams check" in out and "--config" in out
