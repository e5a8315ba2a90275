"""Issue 3 acceptance: deny rules, hidden tools, the circuit breaker and forged approval state, end to end.

Each case also reads the fixture upstream's own record to prove that refused calls never reached it.
"""

from __future__ import annotations

import re

import mcp_types as types
import pytest
from mcp import MCPError

from gateway.approvals.outcome import APPROVAL_KEY
from tests.e2e_policy.helpers import (
    DELETE_WHY,
    ERAS,
    SECRET_WHY,
    Answerer,
    PolicyEnv,
    cli_json,
    connect,
    new_tag,
    result_text,
    visible_tools,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

_RESUME = re.compile(r"mcp-gateway approvals resume ([\w.:-]+)")


@pytest.mark.parametrize("mode", ERAS)
async def test_deny_rule_refuses_with_its_justification(shared_gw: PolicyEnv, mode: str) -> None:
    tag = new_tag()
    answerer = Answerer("allow_once")
    async with connect(shared_gw, mode, answerer) as client:
        names = await visible_tools(client)
        # Denied outright (no argument conditions): hidden from the list and unknown when called.
        assert "fx__delete_all" not in names
        # Denied only for some arguments: still listed.
        assert {"fx__write_file", "fx__echo", "fx__add"} <= set(names)
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("fx__delete_all", {})
        assert "Unknown tool" in unknown.value.message
        assert DELETE_WHY not in unknown.value.message  # a hidden tool does not explain itself

        denied = await client.call_tool("fx__write_file", {"path": f"{tag}.secret", "content": "x"})
        assert denied.is_error
        text = result_text(denied)
        assert SECRET_WHY in text and "no-secret-files" in text and "fx__write_file" in text

        fine = await client.call_tool("fx__write_file", {"path": f"{tag}.txt", "content": "x"})
        assert not fine.is_error, result_text(fine)
    assert answerer.asked == 0  # deny and allow never ask
    assert shared_gw.calls("write_file", f"{tag}.secret") == []
    assert [c["arguments"]["path"] for c in shared_gw.calls("write_file", f"{tag}.txt")] == [f"{tag}.txt"]
    assert shared_gw.calls("delete_all") == []


@pytest.mark.parametrize("mode", ERAS)
async def test_circuit_breaker_pauses_until_resumed(shared_gw: PolicyEnv, mode: str) -> None:
    tag = new_tag()
    async with connect(shared_gw, mode, Answerer("allow_once")) as client:
        for i in range(3):
            denied = await client.call_tool("fx__write_file", {"path": f"{tag}-{i}.secret", "content": "x"})
            assert denied.is_error and SECRET_WHY in result_text(denied)

        # The 4th call is allowed by policy, but the session is paused now.
        paused = await client.call_tool("fx__echo", {"text": str(tag)})
        assert paused.is_error
        text = result_text(paused)
        assert "paused" in text
        match = _RESUME.search(text)
        assert match, text
        session = match.group(1)
        listed = await cli_json(shared_gw, "approvals", "list")
        assert session in [p["session_id"] for p in listed["paused_sessions"]]

        out = await cli_json(shared_gw, "approvals", "resume", session)
        assert out == {"session_id": session, "was_paused": True}

        works = await client.call_tool("fx__echo", {"text": str(tag)})
        assert not works.is_error, result_text(works)
        assert result_text(works) == str(tag)
    # Only the call after the resume reached the upstream.
    assert [c["tool"] for c in shared_gw.calls(tag=str(tag))] == ["echo"]
    assert not any(c["arguments"]["path"].startswith(f"{tag}-") for c in shared_gw.calls("write_file"))


async def test_forged_or_replayed_request_state_is_rejected(shared_gw: PolicyEnv) -> None:
    """2026-07-28 only: the MRTR round trip by hand, with a tampered, a mismatched and a replayed state."""
    tag = new_tag()
    answerer = Answerer("allow_once")  # declares elicitation; never invoked, the loop below is manual
    approve: types.InputResponses = {
        APPROVAL_KEY: types.ElicitResult(action="accept", content={"decision": "allow_once"})
    }
    args = {"a": tag, "b": 1}
    async with connect(shared_gw, "2026-07-28", answerer) as client:
        asked = await client.session.call_tool("fx__add", args, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        assert set(asked.input_requests or {}) == {APPROVAL_KEY}
        state = asked.request_state
        assert state is not None

        # Tampered: one character of the sealed state changed.
        pos = len(state) // 2
        forged = state[:pos] + ("A" if state[pos] != "A" else "B") + state[pos + 1 :]
        bad = await client.session.call_tool(
            "fx__add", args, input_responses=approve, request_state=forged, allow_input_required=True
        )
        assert isinstance(bad, types.CallToolResult) and bad.is_error
        assert "altered" in result_text(bad) or "not valid" in result_text(bad)

        # Mismatched: the state is bound to the arguments it was issued for.
        other = await client.session.call_tool(
            "fx__add", {"a": tag, "b": 99}, input_responses=approve, request_state=state, allow_input_required=True
        )
        assert isinstance(other, types.CallToolResult) and other.is_error

        # The genuine answer still works once...
        ok = await client.session.call_tool(
            "fx__add", args, input_responses=approve, request_state=state, allow_input_required=True
        )
        assert isinstance(ok, types.CallToolResult) and not ok.is_error, ok
        # ...and only once.
        replay = await client.session.call_tool(
            "fx__add", args, input_responses=approve, request_state=state, allow_input_required=True
        )
        assert isinstance(replay, types.CallToolResult) and replay.is_error
        assert "already used" in result_text(replay)
    assert answerer.asked == 0
    assert [c["arguments"] for c in shared_gw.calls("add", tag)] == [args]
