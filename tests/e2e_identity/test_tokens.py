"""HTTP client identity end to end: tokens required, revoked tokens refused, groups reach policy and audit."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from tests.support.gateway_proc import (
    GATEWAY_BIN,
    fixture_upstream,
    http_json,
    read_record,
    running_gateway,
    write_config,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
default_decision: allow
approval_modes:
  - {upstream: fx, mode: approve}   # nothing to ask here: this test is about who may do what
rules:
  - id: dev-no-delete
    match: {upstream: fx, tool: delete_all, group: dev}
    decision: deny
    justification: developers may not delete everything
"""

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


def _token(config: Path, name: str, *groups: str) -> str:
    args = [GATEWAY_BIN, "tokens", "create", name, "--config", str(config), "--json"]
    for g in groups:
        args += ["--group", g]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    token = json.loads(done.stdout)["token"]
    assert token.startswith("mgw_")
    return str(token)


@asynccontextmanager
async def _client(url: str, token: str, mode: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:  # type: ignore[arg-type]
            yield client


def _post(url: str, token: str | None) -> int:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    status, _h, _b = http_json(url, body=json.dumps(INIT).encode(), headers=headers, method="POST")
    return status


def _text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_tokens_identity_groups_and_revocation(tmp_path: Path, mode: str) -> None:
    """No token or a revoked token gets 401; a group-scoped rule applies to that group only; audit names who."""
    record = tmp_path / "record.jsonl"
    cfg = write_config(tmp_path / "upstreams.yaml", {"fx": fixture_upstream(record=record)}, policy=POLICY)
    alice = _token(cfg, "alice", "ops")
    bob = _token(cfg, "bob", "dev")
    with running_gateway(cfg, http=True) as gw:
        gw.wait_settled()
        url = gw.url
        assert url is not None
        assert _post(url, None) == 401
        assert _post(url, "mgw_not-a-real-token") == 401
        assert _post(url, alice) == 200
        health, _h, _b = http_json(gw.base_url + "/healthz")
        assert health == 200  # supervisors need no token

        async with _client(url, bob, mode) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert "fx__echo" in names and "fx__delete_all" not in names  # denied outright for bob's group: hidden
            with pytest.raises(MCPError, match="Unknown tool"):
                await client.call_tool("fx__delete_all", {})
            ok = await client.call_tool("fx__echo", {"text": "from bob"})
            assert not ok.is_error
        async with _client(url, alice, mode) as client:
            assert "fx__delete_all" in [t.name for t in (await client.list_tools()).tools]
            done = await client.call_tool("fx__delete_all", {})
            assert not done.is_error and _text(done) == "deleted"

        calls = [r for r in read_record(record) if r.get("tool") == "delete_all"]
        assert len(calls) == 1  # bob's refused call never reached the upstream

        audit_dir = gw.state_dir / "audit"
        records = [json.loads(line) for f in sorted(audit_dir.glob("*.jsonl")) for line in f.read_text().splitlines()]
        decisions = [r for r in records if r["event"] == "tool_decision" and r.get("tool") == "delete_all"]
        assert [(r["identity"], r["decision"], r["groups"]) for r in decisions] == [("alice", "allow", ["ops"])]
        echo = [r for r in records if r["event"] == "tool_decision" and r.get("tool") == "echo"]
        assert [(r["identity"], r["groups"]) for r in echo] == [("bob", ["dev"])]
        starts = {r["identity"] for r in records if r["event"] == "session_start"}
        assert {"alice", "bob"} <= starts

        await anyio.run_process([GATEWAY_BIN, "tokens", "revoke", "bob", "--config", str(cfg)], check=True)
        assert _post(url, bob) == 401
        assert _post(url, alice) == 200
