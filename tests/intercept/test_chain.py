"""The interception chain: steps fold in order, can rewrite, refuse, and post-process."""

from __future__ import annotations

from dataclasses import replace

import mcp_types as types
import pytest

from gateway.errors import PolicyDeniedError
from gateway.intercept import CallNext, CallResult, Identity, ToolCall, compose

pytestmark = pytest.mark.anyio


def _call(**kw: object) -> ToolCall:
    base = {
        "call_id": "c1",
        "session_id": "s1",
        "identity": Identity(name="alice"),
        "upstream": "fx",
        "tool": "echo",
        "exposed_name": "fx__echo",
        "arguments": {"text": "hi"},
    }
    return ToolCall(**{**base, **kw})  # type: ignore[arg-type]


async def test_steps_run_outermost_first_and_see_rewrites() -> None:
    seen: list[str] = []

    async def outer(call: ToolCall, call_next: CallNext) -> CallResult:
        seen.append("outer")
        result = await call_next(replace(call, arguments={**call.arguments, "added": "yes"}))
        assert isinstance(result, types.CallToolResult)
        return result.model_copy(update={"content": [*result.content, types.TextContent(type="text", text="post")]})

    async def inner(call: ToolCall, call_next: CallNext) -> CallResult:
        seen.append(f"inner:{call.arguments.get('added')}")
        return await call_next(call)

    async def forward(call: ToolCall) -> CallResult:
        seen.append("forward")
        return types.CallToolResult(content=[types.TextContent(type="text", text=str(call.arguments["text"]))])

    result = await compose([outer, inner], forward)(_call())
    assert seen == ["outer", "inner:yes", "forward"]
    assert isinstance(result, types.CallToolResult)
    assert [c.text for c in result.content if isinstance(c, types.TextContent)] == ["hi", "post"]


async def test_a_refusing_step_stops_the_call_before_the_upstream() -> None:
    forwarded: list[ToolCall] = []

    async def deny(call: ToolCall, call_next: CallNext) -> CallResult:
        raise PolicyDeniedError("no", rule_id="r1")

    async def forward(call: ToolCall) -> CallResult:
        forwarded.append(call)
        return types.CallToolResult(content=[])

    with pytest.raises(PolicyDeniedError) as info:
        await compose([deny], forward)(_call())
    assert info.value.rule_id == "r1" and info.value.public_message == "no"
    assert forwarded == []
