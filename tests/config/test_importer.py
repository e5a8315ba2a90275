"""Importing client configs: the three shapes, renames, secret extraction, conflicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.config.edit import add_upstream
from gateway.config.importer import apply_import, parse_client_config, read_client_config
from gateway.config.loader import load_config
from gateway.config.models import HttpUpstream, StdioUpstream
from gateway.config.secrets import SecretRef
from gateway.errors import ConfigError

CLAUDE = {
    "mcpServers": {
        "GitHub_Server": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-github"],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_supersecret", "LOG_LEVEL": "debug"},
        },
        "time": {"command": "uvx", "args": ["mcp-server-time"]},
    }
}

CURSOR = {
    "mcpServers": {
        "remote api": {
            "url": "https://api.example.com/mcp",
            "headers": {"Authorization": "Bearer tok_abc", "X-Org": "7"},
        },
        "local": {"command": "node", "args": ["server.js"], "env": {"OPENAI_API_KEY": "sk-123"}},
    }
}

VSCODE_JSONC = """{
  // .vscode/mcp.json
  "inputs": [{"type": "promptString", "id": "pg-password", "password": true}],
  "servers": {
    "db": {"type": "stdio", "command": "pg-mcp", "args": ["--ro"], "env": {"PGPASSWORD": "${input:pg-password}"},},
    "docs": {"type": "http", "url": "https://docs.example.com/mcp", "headers": {"X-Api-Key": "k-999"}},
  },
}
"""


def test_claude_desktop_secrets_extracted() -> None:
    plan = parse_client_config(CLAUDE)
    assert plan.renames == {"GitHub_Server": "github-server"}
    env = plan.upstreams["github-server"]["env"]
    assert env["GITHUB_PERSONAL_ACCESS_TOKEN"] == {"secret": "github-server-github_personal_access_token"}
    assert env["LOG_LEVEL"] == "debug"
    assert "ghp_supersecret" not in json.dumps(plan.upstreams)
    assert [s.command for s in plan.secrets] == ["mcp-gateway creds set github-server-github_personal_access_token"]
    assert plan.upstreams["time"] == {"command": "uvx", "args": ["mcp-server-time"]}


def test_cursor_http_headers_keep_bearer_template() -> None:
    plan = parse_client_config(CURSOR)
    remote = plan.upstreams["remote-api"]
    assert remote["url"] == "https://api.example.com/mcp"
    assert remote["headers"]["Authorization"] == {"secret": "remote-api-authorization", "template": "Bearer {secret}"}
    assert remote["headers"]["X-Org"] == "7"
    assert plan.upstreams["local"]["env"]["OPENAI_API_KEY"] == {"secret": "local-openai_api_key"}
    dumped = json.dumps(plan.upstreams)
    assert "tok_abc" not in dumped and "sk-123" not in dumped


def test_vscode_jsonc_with_inputs(tmp_path: Path) -> None:
    source = tmp_path / "mcp.json"
    source.write_text(VSCODE_JSONC)
    plan = read_client_config(source)
    assert set(plan.upstreams) == {"db", "docs"}
    assert plan.upstreams["db"]["env"]["PGPASSWORD"] == {"secret": "db-pgpassword"}
    assert "pg-password" in plan.secrets[0].note
    assert plan.upstreams["docs"]["headers"]["X-Api-Key"] == {"secret": "docs-x-api-key"}
    assert "k-999" not in json.dumps(plan.upstreams)


def test_vscode_settings_shape_and_warnings() -> None:
    data = {"mcp": {"servers": {"s": {"type": "sse", "url": "http://h/sse", "envFile": ".env"}, "bad": {"args": []}}}}
    plan = parse_client_config(data)
    assert plan.upstreams == {"s": {"url": "http://h/sse"}}
    assert any("SSE" in w for w in plan.warnings)
    assert any("'bad'" in w and "skipped" in w for w in plan.warnings)


def test_not_a_client_config() -> None:
    with pytest.raises(ConfigError, match="no MCP servers found"):
        parse_client_config({"something": 1})


def test_invalid_json_names_line(tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    source.write_text('{\n  "mcpServers": {\n    "a": \n}')
    with pytest.raises(ConfigError, match="line"):
        read_client_config(source)


def test_apply_writes_valid_config_and_skips_conflicts(tmp_path: Path) -> None:
    config = tmp_path / "upstreams.yaml"
    add_upstream(config, "time", {"command": "original"})
    outcome = apply_import(config, parse_client_config(CLAUDE))
    assert outcome.added == ["github-server"]
    assert "time" in outcome.skipped
    loaded = load_config(config)
    github = loaded.file.upstreams["github-server"]
    assert isinstance(github, StdioUpstream)
    assert github.env["GITHUB_PERSONAL_ACCESS_TOKEN"] == SecretRef(secret="github-server-github_personal_access_token")
    assert getattr(loaded.file.upstreams["time"], "command", None) == "original"
    assert "ghp_supersecret" not in config.read_text()


def test_apply_replace_and_dry_run(tmp_path: Path) -> None:
    config = tmp_path / "upstreams.yaml"
    add_upstream(config, "time", {"command": "original"})
    before = config.read_bytes()
    dry = apply_import(config, parse_client_config(CLAUDE), replace=True, dry_run=True)
    assert dry.replaced == ["time"] and dry.edit is not None
    assert "mcp-server-time" in dry.edit.text
    assert config.read_bytes() == before
    apply_import(config, parse_client_config(CURSOR), replace=True)
    remote = load_config(config).file.upstreams["remote-api"]
    assert isinstance(remote, HttpUpstream)
    assert remote.headers["Authorization"] == SecretRef(secret="remote-api-authorization", template="Bearer {secret}")
