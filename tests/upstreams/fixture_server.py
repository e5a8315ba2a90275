"""A fixture upstream MCP server for the gateway's tests (stdio, or Streamable HTTP with --http PORT).

It exercises every feature the gateway must pass through, in both protocol eras, and keeps its own record
of every tools/call it received (``$FIXTURE_RECORD``, JSON Lines) so tests can prove what reached it.
Fault modes: --exit-at-start, --hang-at-start, --garbage-stdout, --flood-stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import anyio
import mcp_types as types
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

bus = InMemorySubscriptionBus()
dynamic_tools: list[str] = []
legacy_sessions: list[Any] = []

OBJ: dict[str, Any] = {"type": "object"}


def _tool(name: str, description: str, props: dict[str, Any] | None = None, **kw: Any) -> types.Tool:
    schema: dict[str, Any] = {"type": "object", "properties": props or {}}
    return types.Tool(name=name, description=description, input_schema=schema, **kw)


def base_tools() -> list[types.Tool]:
    s = {"type": "string"}
    return [
        _tool(
            "echo",
            "Echo the text back",
            {"text": s},
            output_schema={"type": "object", "properties": {"text": s}, "required": ["text"]},
            annotations=types.ToolAnnotations(read_only_hint=True),
        ),
        _tool("add", "Add two numbers", {"a": {"type": "number"}, "b": {"type": "number"}}),
        _tool("count", "Count to n, reporting progress", {"n": {"type": "integer"}, "delay": {"type": "number"}}),
        _tool("hang", "Never returns (until cancelled)"),
        _tool("elicit", "Ask the user a question", {"question": s}),
        _tool("sample", "Ask the client's model", {"prompt": s}),
        _tool("log", "Send a log notification", {"message": s}),
        _tool("add_tool", "Register the 'dynamic' tool and announce list_changed"),
        _tool("crash", "Exit the process mid-call"),
        _tool("env", "Return an environment variable", {"name": s}),
        _tool("reveal", "Echo an env var in content, structuredContent, stderr and an error", {"name": s}),
        _tool("fail", "Return an isError result", {"text": s}),
        _tool("raise_error", "Fail with a JSON-RPC error", {"text": s}),
        _tool("spawn_child", "Start a grandchild process and return its pid"),
        _tool("big", "Return a text of the given size", {"size": {"type": "integer"}}),
        _tool("write_file", "Pretend to write a file", {"path": s, "content": s}),
        _tool("fetch", "Pretend to fetch a URL", {"url": s}, annotations=types.ToolAnnotations(open_world_hint=True)),
        _tool(
            "delete_all",
            "Pretend to delete everything",
            annotations=types.ToolAnnotations(destructive_hint=True),
        ),
        _tool("whoami", "Return the hidden 'api_key' argument if given", {"note": s}),
    ]


def record(entry: dict[str, Any]) -> None:
    path = os.environ.get("FIXTURE_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()


def text(t: str) -> list[types.ContentBlock]:
    return [types.TextContent(type="text", text=t)]


async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams) -> types.ListToolsResult:
    tools = base_tools() + [_tool(n, "A tool added at run time") for n in dynamic_tools]
    # Two pages, so the gateway's pagination is exercised.
    half = len(tools) // 2
    if params.cursor is None:
        return types.ListToolsResult(tools=tools[:half], next_cursor="page2")
    return types.ListToolsResult(tools=tools[half:])


async def _ask(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, request: Any, result_type: Any
) -> Any:
    """Ask the client something in whichever way the era allows."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        answer = (params.input_responses or {}).get("q")
        if answer is None:
            return types.InputRequiredResult(input_requests={"q": request}, request_state="fixture-state")
        return answer
    return await ctx.session.send_request(request, result_type)


async def call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult:
    args = params.arguments or {}
    name = params.name
    meta = dict(ctx.meta or {})
    record({"tool": name, "arguments": args, "meta": {k: v for k, v in meta.items() if isinstance(v, str | int)}})
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        legacy_sessions.append(ctx.session)
    if name == "echo":
        t = str(args.get("text", ""))
        return types.CallToolResult(content=text(t), structured_content={"text": t}, _meta={"fixture/pid": os.getpid()})
    if name == "add":
        total = float(args.get("a", 0)) + float(args.get("b", 0))
        return types.CallToolResult(content=text(str(total)), structured_content={"sum": total})
    if name == "count":
        n = int(args.get("n", 3))
        delay = float(args.get("delay", 0))
        for i in range(1, n + 1):
            await ctx.session.report_progress(i, n, f"{i}/{n}")
            if delay:
                await anyio.sleep(delay)
        return types.CallToolResult(content=text(f"counted to {n}"))
    if name == "hang":
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            record({"tool": "hang", "event": "cancelled"})
            raise
    if name == "elicit":
        req = types.ElicitRequest(
            params=types.ElicitRequestFormParams(
                message=str(args.get("question", "Name?")),
                requested_schema={"type": "object", "properties": {"answer": {"type": "string"}}},
            )
        )
        got = await _ask(ctx, params, req, types.ElicitResult)
        if isinstance(got, types.InputRequiredResult):
            return got
        res = types.ElicitResult.model_validate(got) if isinstance(got, dict) else got
        return types.CallToolResult(content=text(f"{res.action}:{(res.content or {}).get('answer')}"))
    if name == "sample":
        req = types.CreateMessageRequest(
            params=types.CreateMessageRequestParams(
                messages=[
                    types.SamplingMessage(
                        role="user", content=types.TextContent(type="text", text=str(args.get("prompt", "")))
                    )
                ],
                max_tokens=20,
            )
        )
        got = await _ask(ctx, params, req, types.CreateMessageResult)
        if isinstance(got, types.InputRequiredResult):
            return got
        res = types.CreateMessageResult.model_validate(got) if isinstance(got, dict) else got
        content = res.content
        return types.CallToolResult(content=text(f"model said: {getattr(content, 'text', '?')}"))
    if name == "log":
        await ctx.session.send_log_message(level="info", data=str(args.get("message", "")), logger="fixture")
        return types.CallToolResult(content=text("logged"))
    if name == "add_tool":
        dynamic_tools.append(f"dynamic{len(dynamic_tools) or ''}")
        await bus.publish(ToolsListChanged())
        for s in legacy_sessions:
            await s.send_tool_list_changed()
        return types.CallToolResult(content=text("added"))
    if name == "crash":
        os._exit(3)
    if name == "env":
        return types.CallToolResult(content=text(json.dumps(os.environ.get(str(args.get("name", ""))))))
    if name == "reveal":
        value = os.environ.get(str(args.get("name", "")), "")
        print(f"stderr says {value}", file=sys.stderr, flush=True)
        return types.CallToolResult(
            content=text(f"the value is {value}"), structured_content={"value": value}, is_error=False
        )
    if name == "fail":
        return types.CallToolResult(content=text(str(args.get("text", "failed"))), is_error=True)
    if name == "raise_error":
        from mcp import MCPError

        raise MCPError(code=-32000, message=str(args.get("text", "upstream error")))
    if name == "spawn_child":
        # A real grandchild for the process-hygiene tests; starting it blocks for microseconds only.
        child = subprocess.Popen(  # noqa: ASYNC220
            ["sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        return types.CallToolResult(content=text(str(child.pid)))
    if name == "big":
        return types.CallToolResult(content=text("x" * int(args.get("size", 100_000))))
    if name == "write_file":
        return types.CallToolResult(content=text(f"wrote {args.get('path')}"))
    if name == "fetch":
        return types.CallToolResult(content=text(f"fetched {args.get('url')}"))
    if name == "delete_all":
        return types.CallToolResult(content=text("deleted"))
    if name == "whoami":
        return types.CallToolResult(content=text(f"api_key={args.get('api_key')}"))
    if name in dynamic_tools:
        return types.CallToolResult(content=text(f"{name} called"))
    from mcp import MCPError

    raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {name}")


async def list_resources(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams
) -> types.ListResourcesResult:
    return types.ListResourcesResult(
        resources=[types.Resource(uri="fixture://static/readme", name="readme", mime_type="text/plain")]
    )


async def list_templates(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams
) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(
        resource_templates=[types.ResourceTemplate(uri_template="fixture://items/{id}", name="item")]
    )


async def read_resource(
    ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    uri = str(params.uri)
    if uri == "fixture://static/readme":
        body = "fixture readme"
    elif uri.startswith("fixture://items/"):
        body = f"item {uri.rsplit('/', 1)[1]}"
    else:
        from mcp import MCPError

        raise MCPError(code=-32002, message=f"Resource not found: {uri}")
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, text=body, mime_type="text/plain")])


async def list_prompts(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams) -> types.ListPromptsResult:
    return types.ListPromptsResult(
        prompts=[types.Prompt(name="greet", arguments=[types.PromptArgument(name="name", required=True)])]
    )


async def get_prompt(ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> types.GetPromptResult:
    who = (params.arguments or {}).get("name", "world")
    return types.GetPromptResult(
        messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=f"Hello, {who}!"))]
    )


async def complete(ctx: ServerRequestContext[Any], params: types.CompleteRequestParams) -> types.CompleteResult:
    prefix = params.argument.value
    values = [v for v in ("alice", "albert", "bob") if v.startswith(prefix)]
    return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))


def build_server() -> Server[Any]:
    return Server(
        "fixture",
        version="1.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_subscriptions_listen=ListenHandler(bus),
    )


async def serve_stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options(NotificationOptions(tools_changed=True)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None)
    parser.add_argument("--exit-at-start", action="store_true")
    parser.add_argument("--hang-at-start", action="store_true")
    parser.add_argument("--garbage-stdout", action="store_true")
    parser.add_argument("--flood-stderr", action="store_true")
    opts = parser.parse_args()
    if opts.exit_at_start:
        print("fixture: exiting at start on purpose", file=sys.stderr)
        sys.exit(7)
    if opts.hang_at_start:
        time.sleep(3600)
    if opts.garbage_stdout:
        sys.stdout.write('this is not json\n{"also": "not jsonrpc"}\n')
        sys.stdout.flush()
    if opts.flood_stderr:
        # 8 MB of stderr before serving: a gateway that doesn't drain stderr would deadlock.
        line = "flood " * 20 + "\n"
        for _ in range(8 * 1024 * 1024 // len(line)):
            sys.stderr.write(line)
        sys.stderr.flush()
    server = build_server()
    if opts.http is not None:
        import uvicorn

        app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
        uvicorn.run(app, host="127.0.0.1", port=opts.http, log_level="warning")
    else:
        anyio.run(serve_stdio, server)


if __name__ == "__main__":
    main()
