"""Parked calls: how a 2026-07-28 client answers an upstream's question by retrying (no back channel)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import mcp_types as types
import pytest

from gateway.errors import ApprovalDeniedError
from gateway.front.bridge import ParkedCall, ParkedCalls, SdkDownstream

pytestmark = pytest.mark.anyio

QUESTION = types.ElicitRequest(
    params=types.ElicitRequestFormParams(
        message="Name?", requested_schema={"type": "object", "properties": {"name": {"type": "string"}}}
    )
)


def _ctx(elicit: bool = True) -> Any:
    caps = types.ClientCapabilities(elicitation=types.ElicitationCapability() if elicit else None)
    return SdkDownstream(
        SimpleNamespace(protocol_version="2026-07-28", session=SimpleNamespace(client_capabilities=caps))  # type: ignore[arg-type]
    )


async def _asking_work(call: ParkedCall) -> types.CallToolResult:
    answers = await call.ask({"q": QUESTION})
    answer = answers["q"]
    text = f"error:{answer.code}" if isinstance(answer, types.ErrorData) else f"hello {answer['content']['name']}"
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


async def test_question_then_resume_with_the_answer() -> None:
    """The first round returns the question with a one-time token; the retry's answer reaches the parked work."""
    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        binding = ("session", "alice", "fx__ask")
        first = await parked.start(_ctx(), binding, _asking_work)
        assert isinstance(first, types.InputRequiredResult)
        assert list(first.input_requests or {}) == ["q"]
        token = first.request_state
        assert token is not None and parked.is_resume(token)
        done = await parked.resume(_ctx(), token, binding, {"q": {"action": "accept", "content": {"name": "bob"}}})
        assert isinstance(done, types.CallToolResult)
        assert [c.text for c in done.content if isinstance(c, types.TextContent)] == ["hello bob"]
        with pytest.raises(ApprovalDeniedError):  # single use
            await parked.resume(_ctx(), token, binding, {"q": {"action": "accept", "content": {"name": "eve"}}})
        tg.cancel_scope.cancel()


async def test_resume_is_bound_to_session_identity_and_tool() -> None:
    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        first = await parked.start(_ctx(), ("s1", "alice", "fx__ask"), _asking_work)
        assert isinstance(first, types.InputRequiredResult) and first.request_state is not None
        with pytest.raises(ApprovalDeniedError):
            await parked.resume(_ctx(), first.request_state, ("s2", "mallory", "fx__ask"), {"q": {}})
        with pytest.raises(ApprovalDeniedError):
            await parked.resume(_ctx(), "mcp-gateway/resume:forged", ("s1", "alice", "fx__ask"), {"q": {}})
        tg.cancel_scope.cancel()


async def test_a_client_that_cannot_answer_gets_an_error_not_a_question() -> None:
    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        done = await parked.start(_ctx(elicit=False), ("s", "u", "fx__ask"), _asking_work)
        assert isinstance(done, types.CallToolResult)
        assert [c.text for c in done.content if isinstance(c, types.TextContent)] == [f"error:{types.INVALID_REQUEST}"]
        tg.cancel_scope.cancel()


async def test_a_failing_call_raises_in_the_waiting_handler() -> None:
    async def boom(call: ParkedCall) -> types.CallToolResult:
        raise ApprovalDeniedError("nope")

    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        with pytest.raises(ApprovalDeniedError, match="nope"):
            await parked.start(_ctx(), ("s", "u", "t"), boom)
        tg.cancel_scope.cancel()
