"""The everyday tools/call without pydantic at the edges gives exactly what the SDK's models would."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import orjson
import pytest

from gateway.front.stdio_calls import StdioCalls
from gateway.plain import PlainCall, wire_result
from tests.front.test_stdio_calls import _call, _Front, _Out, _settled_legacy

pytestmark = pytest.mark.anyio

PLAIN_RESULTS: list[dict[str, Any]] = [
    {"content": [{"type": "text", "text": "hi"}]},
    {"content": [], "isError": True},
    {
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "ünïcode ✓"}],
        "structuredContent": {"x": [1, 2.5]},
    },
    {"content": [{"type": "text", "text": "m"}], "_meta": {"fixture/pid": 7, "nested": {"k": None}}, "isError": False},
    {"content": [{"type": "text", "text": "r"}], "resultType": "complete", "structuredContent": {"big": 10**20}},
]
OTHER_RESULTS: list[dict[str, Any]] = [
    {"content": [{"type": "image", "data": "aGk=", "mimeType": "image/png"}]},
    {"content": [{"type": "text", "text": "t", "annotations": {"priority": 1}}]},
    {"content": [{"type": "text", "text": "t", "_meta": {"k": 1}}]},
]


@pytest.mark.parametrize("raw", PLAIN_RESULTS)
def test_plain_results_are_put_in_wire_form_exactly_as_pydantic_would(raw: dict[str, Any]) -> None:
    result = types.CallToolResult.model_validate(raw, by_name=False)
    assert wire_result(result) == result.model_dump(by_alias=True, mode="json", exclude_none=True)


@pytest.mark.parametrize("raw", OTHER_RESULTS)
def test_other_results_are_left_to_pydantic(raw: dict[str, Any]) -> None:
    assert wire_result(types.CallToolResult.model_validate(raw, by_name=False)) is None


def test_input_required_results_are_left_to_pydantic() -> None:
    asked = types.InputRequiredResult(input_requests={}, request_state="s")
    assert wire_result(asked) is None


async def test_plain_params_reach_the_front_as_a_plain_call_others_as_the_sdk_model() -> None:
    front = _Front()
    calls = StdioCalls(front)  # type: ignore[arg-type]
    out = _Out()
    calls.bind(out.write)
    await _settled_legacy(calls)
    assert calls.offer_now(_call(1, {"name": "echo", "arguments": {"a": [1, {"b": None}]}})) is True
    assert calls.offer_now(_call(2, {"name": "echo", "arguments": {}, "task": {"ttl": 5}})) is True
    await out.wait(2)
    (_ds1, plain), (_ds2, modelled) = front.calls
    assert plain == PlainCall("echo", {"a": [1, {"b": None}]}, None)
    assert isinstance(modelled, types.CallToolRequestParams) and modelled.task is not None
    await calls.aclose()


async def test_a_result_value_json_cannot_hold_falls_back_to_pydantics_form() -> None:
    calls = StdioCalls(_Front())  # type: ignore[arg-type]
    result = types.CallToolResult(content=[types.TextContent(type="text", text="s")], structured_content={"s": {3}})
    sent = orjson.loads(calls._result_line(9, result, "2025-11-25"))
    assert sent == {
        "jsonrpc": "2.0",
        "id": 9,
        "result": {"content": [{"type": "text", "text": "s"}], "structuredContent": {"s": [3]}, "isError": False},
    }
