"""Issue 3 acceptance: a client that cannot be asked waits in the queue for ``mcp-gateway approvals`` (both eras).

The answer comes from another process (the CLI on the gateway's state dir), as a user in another terminal would.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest

from tests.e2e_policy.helpers import ADD_WHY, ERAS, PolicyEnv, cli, cli_json, connect, new_tag, result_text

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def _wait_pending(env: PolicyEnv, tag: int) -> dict[str, Any]:
    """Poll ``approvals list --json`` (another process) until the call tagged ``tag`` is waiting; that approval."""
    with anyio.fail_after(15):
        while True:
            listed = await cli_json(env, "approvals", "list")
            for approval in listed["approvals"]:
                if approval["arguments_preview"].get("a") == str(tag):
                    return dict(approval)
            await anyio.sleep(0.1)


@pytest.mark.parametrize("mode", ERAS)
async def test_queued_call_is_forwarded_after_cli_approval(shared_gw: PolicyEnv, mode: str) -> None:
    tag = new_tag()
    results: list[types.CallToolResult] = []
    done = anyio.Event()
    async with connect(shared_gw, mode) as client, anyio.create_task_group() as tg:

        async def call() -> None:
            results.append(await client.call_tool("fx__add", {"a": tag, "b": 2}))
            done.set()

        tg.start_soon(call)
        pending = await _wait_pending(shared_gw, tag)
        assert pending["status"] == "pending"
        assert pending["exposed_name"] == "fx__add"
        assert pending["arguments_preview"] == {"a": str(tag), "b": "2"}
        assert pending["justification"] == ADD_WHY
        assert shared_gw.calls("add", tag) == []  # still waiting: nothing forwarded yet

        await cli(shared_gw, "approvals", "approve", pending["id"])
        with anyio.fail_after(15):
            await done.wait()
    (result,) = results
    assert not result.is_error, result_text(result)
    assert result.structured_content == {"sum": tag + 2.0}
    assert [c["arguments"] for c in shared_gw.calls("add", tag)] == [{"a": tag, "b": 2}]


@pytest.mark.parametrize("mode", ERAS)
async def test_expired_wait_is_denied_with_how_to_approve(impatient_gw: PolicyEnv, mode: str) -> None:
    tag = new_tag()
    async with connect(impatient_gw, mode) as client:
        with anyio.fail_after(15):
            result = await client.call_tool("fx__add", {"a": tag, "b": 3})
    assert result.is_error
    text = result_text(result)
    assert "mcp-gateway approvals approve" in text and "call the tool again" in text
    listed = await cli_json(impatient_gw, "approvals", "list", "--all")
    mine = [a for a in listed["approvals"] if a["arguments_preview"].get("a") == str(tag)]
    assert [a["status"] for a in mine] == ["expired"]
    assert mine[0]["id"] in text
    assert impatient_gw.calls("add", tag) == []
