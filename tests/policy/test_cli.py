"""`mcp-gateway policy check` and `policy lint` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.app import app

from .helpers import write_policy

runner = CliRunner()


@pytest.fixture
def pol(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    write_policy(
        d,
        "a.yaml",
        {
            "rules": [
                {
                    "id": "no-etc",
                    "match": {"arguments": {"path": {"path_under": ["/etc"]}}},
                    "decision": "deny",
                    "justification": "System files are off limits.",
                },
                {"id": "fs-ok", "match": {"upstream": "fs"}, "decision": "allow", "justification": "Trusted fs."},
            ]
        },
    )
    return d


def test_check_json(pol: Path) -> None:
    result = runner.invoke(
        app, ["policy", "check", "fs", "write", "--args", '{"path": "/etc/passwd"}', "-p", str(pol), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["decision"] == "deny" and data["source"] == "rule"
    assert [m["id"] for m in data["matched"]] == ["no-etc", "fs-ok"]
    assert data["matched"][0]["file"].endswith("a.yaml")
    assert data["justification"] == "System files are off limits."


def test_check_human_shows_rules_and_fallback(pol: Path) -> None:
    result = runner.invoke(app, ["policy", "check", "fs", "write", "--args", '{"path": "/etc/x"}', "-p", str(pol)])
    assert result.exit_code == 0
    assert "DENY" in result.stdout and "no-etc" in result.stdout and "System files are off limits." in result.stdout
    fallback = runner.invoke(
        app, ["policy", "check", "web", "get", "--annotations", '{"readOnlyHint": true}', "-p", str(pol)]
    )
    assert "ALLOW" in fallback.stdout and "fallback used: annotations" in fallback.stdout


def test_check_identity_and_groups(tmp_path: Path) -> None:
    d = tmp_path / "p"
    write_policy(
        d, "a.yaml", {"rules": [{"id": "ops", "match": {"group": "ops"}, "decision": "allow", "justification": "j"}]}
    )
    base = ["policy", "check", "u", "t", "-p", str(d), "--json", "--identity", "al"]
    assert json.loads(runner.invoke(app, [*base, "--group", "ops"]).stdout)["decision"] == "allow"
    assert json.loads(runner.invoke(app, [*base, "--group", "dev"]).stdout)["decision"] == "prompt"


def test_check_bad_json_fails_clearly(pol: Path) -> None:
    result = runner.invoke(app, ["policy", "check", "fs", "t", "--args", "{nope", "-p", str(pol)])
    assert result.exit_code == 2
    assert "--args is not valid JSON" in result.output


def test_check_bad_policy_fails(tmp_path: Path) -> None:
    write_policy(tmp_path / "p", "x.yaml", "rules: [{id: r, decision: nah, justification: j}]\n")
    result = runner.invoke(app, ["policy", "check", "u", "t", "-p", str(tmp_path / "p")])
    assert result.exit_code == 2 and "x.yaml" in result.output and "rule 'r'" in result.output


def test_default_dir_beside_config(tmp_path: Path, pol: Path) -> None:
    config = pol.parent / "upstreams.yaml"
    config.write_text("upstreams: {}\n")
    result = runner.invoke(
        app, ["policy", "check", "fs", "w", "--args", '{"path": "/etc/a"}', "-c", str(config), "--json"]
    )
    assert json.loads(result.stdout)["decision"] == "deny"


def test_lint_ok_and_failures(pol: Path, tmp_path: Path) -> None:
    ok = runner.invoke(app, ["policy", "lint", "-p", str(pol)])
    assert ok.exit_code == 0 and "2 rule(s)" in ok.stdout
    bad = tmp_path / "bad"
    write_policy(bad, "a.yaml", {"rules": [{"id": "dup", "decision": "deny", "justification": "j"}]})
    write_policy(bad, "b.yaml", {"rules": [{"id": "dup", "decision": "deny", "justification": "j"}]})
    write_policy(
        bad,
        "c.yaml",
        {
            "rules": [
                {
                    "id": "ex",
                    "match": {"tool": "w"},
                    "decision": "deny",
                    "justification": "j",
                    "examples": {"match": [{"tool": "other"}]},
                }
            ]
        },
    )
    result = runner.invoke(app, ["policy", "lint", "-p", str(bad), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert not data["ok"] and len(data["errors"]) == 2
    joined = "\n".join(data["errors"])
    assert "examples.match[0]" in joined and "'dup'" in joined


def test_shipped_policies_lint_via_cli() -> None:
    shipped = Path(__file__).resolve().parents[2] / "policies"
    result = runner.invoke(app, ["policy", "lint", "-p", str(shipped)])
    assert result.exit_code == 0, result.output
