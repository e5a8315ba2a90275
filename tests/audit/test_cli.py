"""`mcp-gateway audit ...` through typer's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from gateway.audit.chain import list_files
from gateway.cli.app import app
from tests.audit.helpers import all_lines, rewrite, write_session

runner = CliRunner()


@pytest.fixture
def session_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "audit"
    anyio.run(write_session, directory)
    return directory


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["audit", *args], env={"COLUMNS": "300"})
    return result.exit_code, result.stdout, result.stderr


def test_tail_shows_newest_records(session_dir: Path) -> None:
    code, out, _ = run("tail", "-n", "3", "--json", "--audit-dir", str(session_dir))
    assert code == 0
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert events == ["call_received", "tool_decision", "audit_closed"]
    code, out, _ = run("tail", "-n", "2", "--audit-dir", str(session_dir))
    assert code == 0 and "delete_repo" in out and "decision: deny" in out


def test_query_filters_and_json(session_dir: Path) -> None:
    code, out, _ = run(
        "query", "--event", "tool_decision", "--decision", "prompt", "--json", "--audit-dir", str(session_dir)
    )
    assert code == 0
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["call_id"] for r in recs] == ["c2", "c3"]
    code, out, _ = run("query", "--tool", "delete_repo", "--audit-dir", str(session_dir))
    assert code == 0 and "delete_repo" in out and "create_issue" not in out
    code, out, _ = run("query", "--text", "ISSUE #12", "--json", "--audit-dir", str(session_dir))
    assert {json.loads(line)["call_id"] for line in out.splitlines()} == {"c1", "c2"}
    code, out, _ = run("query", "--since", "2030-01-01", "--audit-dir", str(session_dir))
    assert code == 0 and "no matching records" in out


def test_query_rejects_bad_time(session_dir: Path) -> None:
    code, _, err = run("query", "--since", "last tuesday", "--audit-dir", str(session_dir))
    assert code == 2 and "ISO 8601" in err


def test_timeline_reconstructs_each_call(session_dir: Path) -> None:
    code, out, _ = run("timeline", "s1", "--audit-dir", str(session_dir))
    assert code == 0
    assert "client claude-code 1.2.0" in out and "policy p-7" in out
    blocks = out.split("Call ")[1:]
    assert [b.split()[0] for b in blocks] == ["c1", "c2", "c3", "c4"]
    c2 = blocks[1]
    order = [
        c2.index(word)
        for word in ("request", "decision", "gh-prompt", "accept by alice after 4.1s", "GITHUB_TOKEN", "result")
    ]
    assert order == sorted(order)
    assert "decline by alice" in blocks[2] and "result" not in blocks[2]
    assert "deny (source: rule; rules: gh-deny)" in blocks[3]
    code, out, _ = run("timeline", "s1", "--json", "--audit-dir", str(session_dir))
    data = json.loads(out)
    assert [c["decision"] for c in data["calls"]] == ["allow", "prompt", "prompt", "deny"]
    code, _, err = run("timeline", "nope", "--audit-dir", str(session_dir))
    assert code == 2 and "no records for session" in err


def test_verify_exit_codes(session_dir: Path) -> None:
    code, out, _ = run("verify", "--audit-dir", str(session_dir))
    assert code == 0 and "OK" in out and "head:" in out
    lines = all_lines(session_dir)
    lines[5], lines[6] = lines[6], lines[5]
    rewrite(session_dir, lines)
    code, out, _ = run("verify", "--audit-dir", str(session_dir))
    assert code == 1 and "reordered" in out and "seq 7" in out and "line 6" in out
    code, out, _ = run("verify", "--json", "--audit-dir", str(session_dir))
    report = json.loads(out)
    assert code == 1 and report["problem"]["kind"] == "reordered" and report["problem"]["seq"] == 7


def test_verify_torn_tail_passes_unless_strict(session_dir: Path) -> None:
    (path,) = list_files(session_dir)
    path.write_bytes(path.read_bytes() + b'{"seq":99,"ts"')
    code, out, _ = run("verify", "--audit-dir", str(session_dir))
    assert code == 0 and "torn tail" in out
    code, _, _ = run("verify", "--strict", "--audit-dir", str(session_dir))
    assert code == 1


def test_export_jsonl_and_csv(session_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    code, out, _ = run(
        "export", "--format", "jsonl", "--session", "s1", "--output", str(target), "--audit-dir", str(session_dir)
    )
    assert code == 0 and "exported 20 records" in out
    original = b"".join(line for _, line in all_lines(session_dir))
    assert original.startswith(target.read_bytes())  # byte-exact copies (all but audit_closed, which has no session)
    code, out, _ = run("export", "--format", "csv", "--event", "tool_decision", "--audit-dir", str(session_dir))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["decision"] for r in rows] == ["allow", "prompt", "prompt", "deny"]
    assert json.loads(rows[0]["fields"])["rules"] == ["gh-allow"]
    code, _, err = run("export", "--format", "xml", "--audit-dir", str(session_dir))
    assert code == 2 and "jsonl or csv" in err


def test_audit_dir_from_config_or_clear_error(
    session_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MCP_GATEWAY_CONFIG", raising=False)
    code, _, err = run("verify")
    assert code == 2 and "--audit-dir" in err
    config = tmp_path / "upstreams.yaml"
    config.write_text(f"gateway:\n  audit_dir: {session_dir}\nupstreams: {{}}\n")
    code, out, _ = run("verify", "--config", str(config))
    assert code == 0 and "OK" in out
    code, _, err = run("tail", "--audit-dir", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err
