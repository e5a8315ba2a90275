"""`mcp-gateway approvals list / approve / deny / resume` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from gateway.approvals.store import ApprovalStore
from gateway.cli import common
from gateway.cli.app import app

runner = CliRunner()


def _seed(state_dir: Path, n: int = 1) -> list[str]:
    store = ApprovalStore.in_state_dir(state_dir)

    async def run() -> list[str]:
        await store.initialize()
        ids = []
        for i in range(n):
            rec = await store.add_pending(
                session_id="sess-9",
                identity="alice",
                upstream="gh",
                tool="push",
                exposed_name="gh__push",
                args_digest=f"d{i}",
                arguments_preview={"branch": "main", "token": "***"},
                justification="Pushes need a human.",
            )
            ids.append(rec.id)
        await store.record_result("sess-9", approved=False, threshold=1)
        return ids

    return anyio.run(run)


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["approvals", *args])
    return result.exit_code, result.output


def test_list_table_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.out_console, "_width", 250)  # the table folds columns on a narrow terminal
    [approval_id] = _seed(tmp_path)
    code, out = _invoke("list", "--state-dir", str(tmp_path))
    assert code == 0
    assert approval_id in out and "gh__push" in out and "token: ***" in out and "Pushes need a human." in out
    assert "mcp-gateway approvals resume sess-9" in out
    code, out = _invoke("list", "--json", "--state-dir", str(tmp_path))
    data = json.loads(out)
    assert [a["id"] for a in data["approvals"]] == [approval_id]
    assert data["approvals"][0]["status"] == "pending" and data["approvals"][0]["arguments_preview"]["token"] == "***"
    assert data["paused_sessions"] == [{"session_id": "sess-9", "consecutive": 1, "open": True}]


def test_approve_session_then_already_answered(tmp_path: Path) -> None:
    [approval_id] = _seed(tmp_path)
    code, out = _invoke("approve", approval_id.lower(), "--session", "--state-dir", str(tmp_path))
    assert code == 0 and f"Approved {approval_id}" in out and "for this session" in out
    code, out = _invoke("list", "--all", "--json", "--state-dir", str(tmp_path))
    record = json.loads(out)["approvals"][0]
    assert record["status"] == "approved" and record["option"] == "session"
    assert record["answered_by"].startswith("cli:")
    code, out = _invoke("approve", approval_id, "--state-dir", str(tmp_path))
    assert code == 2 and "already approved" in out
    code, out = _invoke("list", "--state-dir", str(tmp_path))
    assert "No approvals waiting." in out


def test_deny_with_reason_and_always(tmp_path: Path) -> None:
    first, second = _seed(tmp_path, 2)
    code, out = _invoke("deny", first, "--reason", "not today", "--json", "--state-dir", str(tmp_path))
    assert code == 0 and json.loads(out)["reason"] == "not today" and json.loads(out)["status"] == "denied"
    code, out = _invoke("approve", second, "--always", "--json", "--state-dir", str(tmp_path))
    assert code == 0 and json.loads(out)["option"] == "always"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", "NOPE2345"], "no approval with ID NOPE2345"),
        (["deny", "NOPE2345"], "no approval with ID NOPE2345"),
        (["approve", "X", "--session", "--always"], "choose one of --session and --always"),
        (["approve", "X", "--whole-tool"], "--whole-tool only applies with --session"),
    ],
)
def test_errors(tmp_path: Path, args: list[str], message: str) -> None:
    _seed(tmp_path)
    code, out = _invoke(*args, "--state-dir", str(tmp_path))
    assert code == 2 and message in " ".join(out.split())


def test_missing_database_is_explained(tmp_path: Path) -> None:
    code, out = _invoke("approve", "ABCD2345", "--state-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no approvals database" in out
    code, out = _invoke("list", "--state-dir", str(tmp_path / "nowhere"))
    assert code == 0 and "No approvals waiting." in out
    assert not (tmp_path / "nowhere").exists()


def test_resume(tmp_path: Path) -> None:
    _seed(tmp_path)
    code, out = _invoke("resume", "sess-9", "--state-dir", str(tmp_path))
    assert code == 0 and "Session sess-9 resumed." in out
    code, out = _invoke("resume", "sess-9", "--json", "--state-dir", str(tmp_path))
    assert json.loads(out) == {"session_id": "sess-9", "was_paused": False}


def test_state_dir_from_config(tmp_path: Path) -> None:
    config = tmp_path / "upstreams.yaml"
    config.write_text("gateway:\n  state_dir: st\nupstreams: {}\n", encoding="utf-8")
    [approval_id] = _seed(tmp_path / "st")
    code, out = _invoke("list", "--config", str(config), "--json")
    assert code == 0 and json.loads(out)["approvals"][0]["id"] == approval_id
