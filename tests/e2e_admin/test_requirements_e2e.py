"""Admin requirements end to end: what users cannot loosen, seen by a client, the audit trail and the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client

from tests.support.gateway_proc import (
    FIXTURE,
    GATEWAY_BIN,
    PYTHON,
    fixture_upstream,
    read_record,
    running_gateway,
    write_config,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

USER_POLICY = """\
default_decision: allow
rules:
  - id: user-allows-delete
    match: {upstream: fx, tool: delete_all}
    decision: allow
    justification: I trust myself
  - id: corp-no-delete-all
    match: {upstream: fx, tool: echo}
    decision: allow
    justification: trying to take over the admin's rule id
approval_modes:
  - {upstream: "*", mode: approve}
"""


def _requirements(system_dir: Path) -> None:
    system_dir.mkdir(parents=True, exist_ok=True)
    (system_dir / "requirements.yaml").write_text(
        f"""\
allowed_approval_modes: [auto, prompt, never]
rules:
  - id: corp-no-delete-all
    match: {{upstream: fx, tool: delete_all}}
    decision: deny
    justification: Deleting everything goes through change control.
upstreams:
  allow:
    - {{name: fx, command: ["{PYTHON}", "{FIXTURE}"]}}
""",
        encoding="utf-8",
    )


def _text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def test_requirements_hold_against_user_config(tmp_path: Path) -> None:
    """A requirement deny beats a user allow (and its audit record names it); a foreign upstream is disabled."""
    system_dir = tmp_path / "etc"
    _requirements(system_dir)
    record = tmp_path / "record.jsonl"
    cfg = write_config(
        tmp_path / "upstreams.yaml",
        {"fx": fixture_upstream(record=record), "rogue": fixture_upstream()},
        {"hide_denied_tools": False},  # so the refused call is made, and audited
        policy=USER_POLICY,
    )
    env = {"MCP_GATEWAY_SYSTEM_DIR": str(system_dir), "MCP_GATEWAY_PROFILE": ""}
    os.environ.update(env)
    try:
        with running_gateway(cfg, http=True, env=env) as gw:
            gw.wait_settled()
            assert gw.url is not None
            async with Client(gw.url, mode="legacy") as client:
                names = [t.name for t in (await client.list_tools()).tools]
                assert "fx__echo" in names and not any(n.startswith("rogue__") for n in names)
                refused = await client.call_tool("fx__delete_all", {})
                assert refused.is_error and "change control" in _text(refused), _text(refused)
                echo = await client.call_tool("fx__echo", {"text": "hi"})
                assert not echo.is_error

            audit = [
                json.loads(line)
                for f in sorted((gw.state_dir / "audit").glob("*.jsonl"))
                for line in f.read_text().splitlines()
            ]
            denied = [r for r in audit if r["event"] == "tool_decision" and r.get("tool") == "delete_all"]
            assert len(denied) == 1 and denied[0]["decision"] == "deny"
            assert denied[0]["rule_id"] == "corp-no-delete-all"
            winning = [m for m in denied[0]["matched_rules"] if m["id"] == "corp-no-delete-all"]
            assert winning and "requirements.yaml" in winning[0]["file"]

            listed = await anyio.run_process(
                [GATEWAY_BIN, "upstreams", "list", "--json", "--config", str(cfg)],
                env={**os.environ, **env},
                check=True,
            )
            rows = {row["name"]: row for row in json.loads(listed.stdout.decode())["upstreams"]}
            assert rows["rogue"]["state"] == "disabled", rows["rogue"]
            assert "requirements.yaml" in json.dumps(rows["rogue"]), rows["rogue"]
            assert rows["fx"]["state"] == "ready"

            explained = await anyio.run_process(
                [GATEWAY_BIN, "config", "explain", "upstreams.rogue", "--config", str(cfg)],
                env={**os.environ, **env},
                check=True,
            )
            assert "requirements.yaml" in explained.stdout.decode() and "rogue" in explained.stdout.decode()

            checked = await anyio.run_process(
                [GATEWAY_BIN, "policy", "check", "fx", "delete_all", "--json", "--config", str(cfg)],
                env={**os.environ, **env},
                check=False,
            )
            assert json.loads(checked.stdout.decode())["decision"] == "deny", checked.stdout.decode()
        assert not [r for r in read_record(record) if r.get("tool") == "delete_all"]
    finally:
        for key in env:
            os.environ.pop(key, None)
