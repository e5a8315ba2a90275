"""Core behaviours checked through a connected gateway client; shared by the stdio and HTTP tests."""

from __future__ import annotations

from pathlib import Path

import anyio
import mcp_types as types
from mcp import Client, MCPError

from tests.e2e.clients import Recorder, tool_names
from tests.support.gateway_proc import await_until, read_record

__all__ = [
    "check_cancel",
    "check_elicit_and_sample",
    "check_everything",
    "check_list_changed",
    "check_progress",
    "check_prompts_and_completion",
    "check_resources",
    "check_time",
    "check_tools",
]


def _text(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def check_tools(client: Client) -> None:
    names = await tool_names(client)
    for expected in ("fx__echo", "fx__add", "fx__count", "fx__hang", "fx__elicit", "time__get_current_time"):
        assert expected in names, names
    assert all("__" in n for n in names), names  # every name carries its upstream's prefix
    echo = await client.call_tool("fx__echo", {"text": "hello"})
    assert not echo.is_error
    assert _text(echo) == "hello"
    assert echo.structured_content == {"text": "hello"}
    added = await client.call_tool("fx__add", {"a": 2, "b": 3})
    assert added.structured_content == {"sum": 5.0}
    # An upstream JSON-RPC error passes through as that error; an unknown tool is -32602.
    try:
        await client.call_tool("fx__raise_error", {"text": "boom"})
    except MCPError as exc:
        assert (exc.code, exc.message) == (-32000, "boom")
    else:
        raise AssertionError("fx__raise_error did not fail")
    try:
        await client.call_tool("fx__no_such_tool", {})
    except MCPError as exc:
        assert exc.code == types.INVALID_PARAMS
    else:
        raise AssertionError("an unknown tool did not fail")
    failed = await client.call_tool("fx__fail", {"text": "nope"})
    assert failed.is_error and _text(failed) == "nope"


async def check_time(client: Client) -> None:
    result = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
    assert not result.is_error, result
    assert '"timezone": "UTC"' in _text(result)


async def check_resources(client: Client) -> None:
    resources = await client.list_resources()
    assert "fixture://static/readme" in [str(r.uri) for r in resources.resources]
    readme = await client.read_resource("fixture://static/readme")
    assert [getattr(c, "text", None) for c in readme.contents] == ["fixture readme"]
    templates = await client.list_resource_templates()
    assert "fixture://items/{id}" in [t.uri_template for t in templates.resource_templates]
    item = await client.read_resource("fixture://items/42")
    assert [getattr(c, "text", None) for c in item.contents] == ["item 42"]


async def check_prompts_and_completion(client: Client) -> None:
    prompts = await client.list_prompts()
    assert "fx__greet" in [p.name for p in prompts.prompts]
    got = await client.get_prompt("fx__greet", {"name": "Ada"})
    assert [getattr(m.content, "text", None) for m in got.messages] == ["Hello, Ada!"]
    done = await client.complete(
        types.PromptReference(type="ref/prompt", name="fx__greet"), {"name": "name", "value": "al"}
    )
    assert done.completion.values == ["alice", "albert"]
    templ = await client.complete(
        types.ResourceTemplateReference(type="ref/resource", uri="fixture://items/{id}"), {"name": "id", "value": "b"}
    )
    assert templ.completion.values == ["bob"]


async def check_progress(client: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []
    all_seen = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))
        if len(seen) == 3:
            all_seen.set()

    result = await client.call_tool("fx__count", {"n": 3}, progress_callback=on_progress)
    assert _text(result) == "counted to 3"
    with anyio.fail_after(5):  # progress callbacks run as tasks and may land just after the result
        await all_seen.wait()
    assert seen == [(1, 3, "1/3"), (2, 3, "2/3"), (3, 3, "3/3")]


async def check_cancel(client: Client, record: Path) -> None:
    def cancelled() -> int:
        return sum(1 for e in read_record(record) if e == {"tool": "hang", "event": "cancelled"})

    before = cancelled()
    with anyio.move_on_after(1.5) as scope:
        await client.call_tool("fx__hang", {})
    assert scope.cancelled_caught
    await await_until(lambda: cancelled() > before, 10, "the fixture to record the cancelled hang")
    again = await client.call_tool("fx__echo", {"text": "after cancel"})
    assert _text(again) == "after cancel"


async def check_elicit_and_sample(client: Client, rec: Recorder) -> None:
    result = await client.call_tool("fx__elicit", {"question": "Your name?"})
    assert _text(result) == f"accept:{rec.answer}"
    assert rec.elicitations[-1] == "Your name?"
    sampled = await client.call_tool("fx__sample", {"prompt": "2+2?"})
    assert _text(sampled) == "model said: 4"
    assert rec.samplings[-1] == "2+2?"


async def check_list_changed(client: Client, mode: str, rec: Recorder) -> None:
    before = set(await tool_names(client))
    if mode == "legacy":
        count = rec.list_changed_count()
        await client.call_tool("fx__add_tool", {})
        await await_until(lambda: rec.list_changed_count() > count, 10, "tools/list_changed")
    else:
        async with client.listen(tools_list_changed=True) as sub:
            await client.call_tool("fx__add_tool", {})
            with anyio.fail_after(10):
                event = await sub.__anext__()
            assert type(event).__name__ == "ToolsListChanged"
    after = set(await tool_names(client))
    new = after - before
    assert len(new) == 1 and next(iter(new)).startswith("fx__dynamic"), new
    called = await client.call_tool(next(iter(new)), {})
    assert _text(called).endswith(" called")


async def check_everything(client: Client, prefix: str) -> None:
    """server-everything (the npm reference server) through the gateway."""
    names = await tool_names(client)
    assert f"{prefix}__echo" in names and f"{prefix}__get-sum" in names, names
    echo = await client.call_tool(f"{prefix}__echo", {"message": "hi"})
    assert _text(echo) == "Echo: hi"
    total = await client.call_tool(f"{prefix}__get-sum", {"a": 2, "b": 5})
    assert "7" in _text(total), total
    prompts = [p.name for p in (await client.list_prompts()).prompts]
    assert f"{prefix}__simple-prompt" in prompts, prompts
    got = await client.get_prompt(f"{prefix}__simple-prompt")
    assert got.messages
    resources = await client.list_resources()
    uri = next(str(r.uri) for r in resources.resources if str(r.uri).startswith("demo://resource/static/"))
    read = await client.read_resource(uri)
    assert read.contents and str(read.contents[0].uri) == uri
