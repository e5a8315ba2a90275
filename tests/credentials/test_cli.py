from __future__ import annotations

import json
import uuid
from pathlib import Path

import keyring
import pytest
from typer.testing import CliRunner

from gateway.cli.creds import app
from gateway.credentials.settings import SERVICE_NAME

pytestmark = pytest.mark.keyring

runner = CliRunner()


@pytest.fixture
def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"gh-{suffix}", f"db-{suffix}"


@pytest.fixture
def config(tmp_path: Path, names: tuple[str, str]) -> Path:
    gh, db = names
    path = tmp_path / "upstreams.yaml"
    path.write_text(
        f"""
upstreams:
  github:
    command: github-mcp
    env:
      GITHUB_TOKEN: {{secret: {gh}}}
  api:
    url: https://api.example.com/mcp
    headers:
      Authorization: {{secret: {gh}, template: "Bearer {{secret}}"}}
  db:
    command: db-mcp
    env:
      PGPASSWORD: {{secret: {db}}}
""",
        encoding="utf-8",
    )
    return path


def test_set_reads_stdin_and_bumps_rotation_file(
    secret_service: dict[str, str], config: Path, names: tuple[str, str]
) -> None:
    gh, _ = names
    result = runner.invoke(app, ["set", gh, "--config", str(config)], input="ghp_from_stdin_123\n")
    assert result.exit_code == 0, result.output
    assert keyring.get_password(SERVICE_NAME, gh) == "ghp_from_stdin_123"  # trailing newline dropped
    assert "ghp_from_stdin_123" not in result.output
    assert "Used by: github, api" in result.output
    version = json.loads((config.parent / ".mcp-gateway" / "credentials.version").read_text())
    first = version["names"][gh]
    result = runner.invoke(app, ["set", gh, "--config", str(config)], input="ghp_rotated_456")
    assert result.exit_code == 0 and "Replaced" in result.output
    assert keyring.get_password(SERVICE_NAME, gh) == "ghp_rotated_456"
    version = json.loads((config.parent / ".mcp-gateway" / "credentials.version").read_text())
    assert version["names"][gh] > first
    assert "ghp_rotated_456" not in json.dumps(version)


def test_set_rejects_empty_value_and_bad_name(secret_service: dict[str, str], config: Path) -> None:
    result = runner.invoke(app, ["set", "empty-one", "--config", str(config)], input="\n")
    assert result.exit_code == 2
    assert "empty value" in result.output
    assert keyring.get_password(SERVICE_NAME, "empty-one") is None
    result = runner.invoke(app, ["set", "bad name!", "--config", str(config)], input="value")
    assert result.exit_code == 2 and "invalid credential name" in result.output


def test_set_never_takes_the_value_from_argv(secret_service: dict[str, str], config: Path) -> None:
    result = runner.invoke(app, ["set", "argv-test", "s3cret-on-argv", "--config", str(config)], input="x1234")
    assert result.exit_code != 0
    assert keyring.get_password(SERVICE_NAME, "argv-test") is None


def test_list_check_delete(secret_service: dict[str, str], config: Path, names: tuple[str, str]) -> None:
    gh, db = names
    runner.invoke(app, ["set", gh, "--config", str(config)], input="ghp_list_value_999")

    result = runner.invoke(app, ["list", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "ghp_list_value_999" not in result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows[gh]["used_by"] == ["github", "api"] and rows[gh]["resolves"] and rows[gh]["stored"]
    assert rows[db]["used_by"] == ["db"] and not rows[db]["resolves"] and not rows[db]["stored"]
    assert f"mcp-gateway creds set {db}" in rows[db]["problem"]

    table = runner.invoke(app, ["list", "--config", str(config)])
    assert table.exit_code == 0 and gh in table.output and "ghp_list_value_999" not in table.output

    result = runner.invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 1
    assert f"mcp-gateway creds set {db}" in result.output
    assert f"missing {gh}" not in result.output

    runner.invoke(app, ["set", db, "--config", str(config)], input="pg-password-1")
    result = runner.invoke(app, ["check", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and sorted(report["checked"]) == sorted([gh, db])

    result = runner.invoke(app, ["delete", db, "--config", str(config)])
    assert result.exit_code == 0 and "Still referenced by: db" in result.output
    assert keyring.get_password(SERVICE_NAME, db) is None
    result = runner.invoke(app, ["delete", db, "--config", str(config)])
    assert result.exit_code == 2 and "no credential named" in result.output
    assert runner.invoke(app, ["check", "--config", str(config)]).exit_code == 1


def test_check_flags_literal_secrets(secret_service: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "upstreams.yaml"
    path.write_text(
        "upstreams:\n  gh:\n    command: x\n    env:\n      GITHUB_TOKEN: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n"
    )
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 1
    assert "mcp-gateway creds set gh-github-token" in result.output
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in result.output


def test_bad_config_fails_clearly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "file not found" in result.output
