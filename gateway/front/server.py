"""The MCP server clients talk to: aggregated lists, and every request routed to the right upstream.

Tool calls go through the interception chain. This module is the only place that turns gateway errors into
what a client sees: refusals and upstream failures become ``isError`` tool results with a client-safe message,
unknown names become JSON-RPC errors, upstream JSON-RPC errors pass through, anything else is logged and
answered with a generic internal error (never exception text).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import mcp_types as types
import structlog
from mcp import MCPError
from mcp.server import InitializationOptions, NotificationOptions, Server, ServerRequestContext
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ToolsListChanged,
)

from gateway import __version__
from gateway.errors import GatewayError, RefusedError, UnknownToolError, UpstreamError
from gateway.front.bridge import (
    Answered,
    Downstream,
    DownstreamChannel,
    LegacyAsker,
    ParkedCall,
    ParkedCalls,
    SdkDownstream,
    is_modern,
)
from gateway.front.sessions import ClientSession, SessionTracker
from gateway.identity.http_auth import http_identity
from gateway.intercept.call import ToolCall, new_call_id
from gateway.intercept.chain import CallNext, CallResult, compose
from gateway.plain import CallParams
from gateway.telemetry import mark_tool_error
from gateway.upstreams.asker import Asker, NoAsker
from gateway.upstreams.catalog import ToolRoute

if TYPE_CHECKING:
    from gateway.runtime import Gateway

__all__ = ["FrontServer"]

log = structlog.get_logger("gateway.front")

T = TypeVar("T")

_LIST_CHANGED = NotificationOptions(tools_changed=True, prompts_changed=True, resources_changed=True)

PAGE_SIZE = 200
# Envelope keys the SDK manages per hop; everything else in _meta (e.g. traceparent) is passed on.
_HOP_META = {
    "progress_token",
    "progressToken",
    types.PROTOCOL_VERSION_META_KEY,
    types.CLIENT_INFO_META_KEY,
    types.CLIENT_CAPABILITIES_META_KEY,
    types.LOG_LEVEL_META_KEY,
}


def _text(message: str) -> list[types.ContentBlock]:
    return [types.TextContent(type="text", text=message)]


class _GatewayServer(Server[Any]):
    """The SDK server, announcing listChanged for tools, prompts and resources on every transport.

    The HTTP session manager builds its own initialization options, so the default is changed here rather
    than passed in by each front.
    """

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or _LIST_CHANGED, experimental_capabilities, extensions
        )


def refused_result(exc: GatewayError) -> types.CallToolResult:
    return types.CallToolResult(content=_text(exc.public_message), is_error=True)


def _page(items: list[Any], cursor: str | None) -> tuple[list[Any], str | None]:
    start = 0
    if cursor:
        try:
            start = int(cursor)
        except ValueError:
            raise MCPError(code=types.INVALID_PARAMS, message="Invalid cursor.") from None
        if start < 0 or start > len(items):
            raise MCPError(code=types.INVALID_PARAMS, message="Invalid cursor.")
    end = start + PAGE_SIZE
    return items[start:end], (str(end) if end < len(items) else None)


class FrontServer:
    """Builds the low-level SDK ``Server`` for one transport and handles its requests."""

    def __init__(self, gateway: Gateway, transport: str, parked: ParkedCalls) -> None:
        self.gw = gateway
        self.transport = transport
        self.parked = parked
        self.bus = InMemorySubscriptionBus()
        identify = gateway.identify or (http_identity if transport == "http" else None)
        self.sessions = SessionTracker(transport, identify=identify, on_start=gateway.session_started)
        self.server: Server[Any] = _GatewayServer(
            "mcp-gateway",
            version=__version__,
            instructions=gateway.instructions(),
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.list_templates,
            on_read_resource=self.read_resource,
            on_list_prompts=self.list_prompts,
            on_get_prompt=self.get_prompt,
            on_completion=self.complete,
            on_subscriptions_listen=ListenHandler(self.bus),
            get_tool_input_schema=self._input_schema,
        )
        self._chain: tuple[tuple[Any, ...], CallNext] | None = None  # (the steps it was composed of, the chain)
        gateway.add_change_listener(self.announce)
        # The gateway makes its own request spans (with its own providers); the SDK's default middleware would
        # only add a second, no-op layer of work to every message.
        self.server.middleware[:] = [m for m in self.server.middleware if type(m).__name__ != "OpenTelemetryMiddleware"]

    def init_options(self) -> Any:
        return self.server.create_initialization_options()

    async def announce(self, kinds: set[str]) -> None:
        """Tell every client that lists changed (both eras)."""
        if "tools" in kinds:
            await self.bus.publish(ToolsListChanged())
        if "prompts" in kinds:
            await self.bus.publish(PromptsListChanged())
        if "resources" in kinds:
            await self.bus.publish(ResourcesListChanged())
        await self.sessions.broadcast_legacy(kinds)

    def _span(self, ctx: ServerRequestContext[Any], method: str, target: str | None = None) -> Any:
        """One SERVER span per MCP request (OpenTelemetry semantic conventions for MCP)."""
        return self.gw.telemetry.request_span(
            method,
            target,
            request_id=ctx.request_id,
            protocol_version=ctx.protocol_version,
            transport="pipe" if self.transport == "stdio" else "tcp",
            meta=ctx.meta,
        )

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        route = self.gw.pool.catalog.tools.get(name)
        return dict(route.tool.input_schema) if route else None

    # -- tools ------------------------------------------------------------------------------------------------------

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        with self._span(ctx, "tools/list", None):
            session = await self.sessions.get(ctx)
            routes = [r for r in self.gw.pool.catalog.tools.values() if self.gw.tool_visible(session, r)]
            tools, cursor = _page([r.tool for r in routes], params.cursor if params else None)
            await self.gw.emit(
                "tools_listed", {"session_id": session.id, "identity": session.identity.name, "count": len(routes)}
            )
            return types.ListToolsResult(tools=tools, next_cursor=cursor)

    def _route(self, session: ClientSession, name: str) -> ToolRoute:
        route = self.gw.pool.catalog.tools.get(name)
        if route is None or not self.gw.tool_visible(session, route):
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {name}")
        return route

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        session = await self.sessions.get(ctx)
        result = await self.handle_call(SdkDownstream(ctx), session, params, params.meta)
        assert not isinstance(result, Answered)  # an SdkDownstream cannot answer early
        return result

    async def handle_call(
        self,
        ds: Downstream,
        session: ClientSession,
        params: CallParams,
        wire_meta: Mapping[str, Any] | None,
    ) -> types.CallToolResult | types.InputRequiredResult | Answered:
        """One tools/call from any front: span, routing, the era's bridge, the chain, and client-safe errors.
        ``ANSWERED``: ``ds`` already has its answer (see ``bridge.AnswersEarly``)."""
        if not self.gw.telemetry.enabled:
            return await self._call_tool(ds, session, params)  # no span to make: the hot path skips the no-op one
        with self.gw.telemetry.request_span(
            "tools/call",
            params.name,
            session_id=session.id,
            request_id=ds.request_id,
            protocol_version=ds.protocol_version,
            transport="pipe" if self.transport == "stdio" else "tcp",
            meta=wire_meta,
        ) as span:
            result = await self._call_tool(ds, session, params)
            if isinstance(result, types.CallToolResult) and result.is_error:
                mark_tool_error(span)
            return result

    async def _call_tool(
        self, ds: Downstream, session: ClientSession, params: CallParams
    ) -> types.CallToolResult | types.InputRequiredResult | Answered:
        try:
            route = self._route(session, params.name)
            binding = (session.id, session.identity.name, params.name)
            if is_modern(ds):
                if self.parked.is_resume(params.request_state):
                    assert params.request_state is not None
                    return await self.parked.resume(ds, params.request_state, binding, params.input_responses)
                return await self.parked.start(
                    ds, binding, lambda parked: self._run_chain(ds, session, route, params, parked)
                )
            return await self._run_chain(ds, session, route, params, LegacyAsker(ds))
        except MCPError:
            raise
        except RefusedError as exc:
            return refused_result(exc)
        except UnknownToolError as exc:
            raise MCPError(code=exc.code, message=exc.public_message) from None
        except UpstreamError as exc:
            log.warning("upstream error", tool=params.name, error=str(exc))
            return refused_result(exc)
        except GatewayError as exc:
            log.error("gateway error", tool=params.name, error=str(exc))
            return refused_result(exc)
        except Exception:
            log.exception("unexpected error handling tools/call", tool=params.name)
            raise MCPError(code=types.INTERNAL_ERROR, message="Internal gateway error.") from None

    async def _run_chain(
        self,
        ds: Downstream,
        session: ClientSession,
        route: ToolRoute,
        params: CallParams,
        asker: Asker | ParkedCall,
    ) -> CallResult:
        meta = {k: v for k, v in (params.meta or {}).items() if k not in _HOP_META}
        call = ToolCall(
            call_id=new_call_id(),
            session_id=session.id,
            identity=session.identity,
            upstream=route.upstream,
            tool=route.name,
            exposed_name=params.name,
            arguments=dict(params.arguments or {}),
            annotations=route.tool.annotations,
            upstream_cwd=self.gw.pool.config.upstream_cwd_text(route.upstream),
            request_id=ds.request_id,
            protocol_version=ds.protocol_version,
            input_responses=params.input_responses,
            request_state=params.request_state,
            meta=meta or None,
            client=DownstreamChannel(ds),
            events=self.gw.events,
            asker=asker,
        )
        steps = tuple(self.gw.steps)
        if self._chain is None or self._chain[0] != steps:
            self._chain = (steps, compose(steps, self._forward))  # composed once, not per call
        return await self._chain[1](call)

    async def _forward(self, c: ToolCall) -> CallResult:
        """The innermost step: the call goes to its upstream."""
        tel = self.gw.telemetry
        if not tel.enabled:
            return await self._upstream_call(c, c.meta)
        with tel.upstream_span("tools/call", c.tool, upstream=c.upstream, session_id=c.session_id):
            return await self._upstream_call(c, tel.inject_meta(c.meta))

    async def _upstream_call(self, c: ToolCall, meta: Mapping[str, Any] | None) -> CallResult:
        upstream = self.gw.pool.get(c.upstream)
        result = await upstream.call_tool(c.tool, c.arguments, asker=c.asker or NoAsker(), meta=meta)
        return _strip_server_info(result)

    # -- resources ----------------------------------------------------------------------------------------------

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        with self._span(ctx, "resources/list", None):
            items = [r for _up, r in self.gw.pool.catalog.resources.values()]
            page, cursor = _page(items, params.cursor if params else None)
            return types.ListResourcesResult(resources=page, next_cursor=cursor)

    async def list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        with self._span(ctx, "resources/templates/list", None):
            items = [t for _up, _rx, t in self.gw.pool.catalog.templates]
            page, cursor = _page(items, params.cursor if params else None)
            return types.ListResourceTemplatesResult(resource_templates=page, next_cursor=cursor)

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        with self._span(ctx, "resources/read", str(params.uri)):
            uri = str(params.uri)
            upstream = self.gw.pool.catalog.route_resource(uri)
            if upstream is None:
                raise MCPError(code=-32002, message=f"Resource not found: {uri}")
            return await self._upstream_op(
                lambda: self.gw.pool.get(upstream).read_resource(uri, asker=self._asker(ctx)), "resources/read"
            )

        # -- prompts and completion -------------------------------------------------------------------------------

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        with self._span(ctx, "prompts/list", None):
            items = [p for _up, _name, p in self.gw.pool.catalog.prompts.values()]
            page, cursor = _page(items, params.cursor if params else None)
            return types.ListPromptsResult(prompts=page, next_cursor=cursor)

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        with self._span(ctx, "prompts/get", params.name):
            hit = self.gw.pool.catalog.prompts.get(params.name)
            if hit is None:
                raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {params.name}")
            upstream, name, _prompt = hit
            return await self._upstream_op(
                lambda: self.gw.pool.get(upstream).get_prompt(name, params.arguments, asker=self._asker(ctx)),
                "prompts/get",
            )

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        with self._span(ctx, "completion/complete", None):
            ref = params.ref
            upstream: str | None
            if isinstance(ref, types.PromptReference):
                hit = self.gw.pool.catalog.prompts.get(ref.name)
                upstream = hit[0] if hit else None
                if hit is not None:
                    ref = ref.model_copy(update={"name": hit[1]})
            else:
                upstream = self.gw.pool.catalog.template_owner(ref.uri)
            if upstream is None:
                return types.CompleteResult(completion=types.Completion(values=[], total=0, has_more=False))
            argument = {"name": params.argument.name, "value": params.argument.value}
            context_args = params.context.arguments if params.context is not None else None
            up = upstream
            return await self._upstream_op(
                lambda: self.gw.pool.get(up).complete(ref, argument, context_args), "completion/complete"
            )

    def _asker(self, ctx: ServerRequestContext[Any]) -> Asker:
        return NoAsker() if is_modern(ctx) else LegacyAsker(SdkDownstream(ctx))

    async def _upstream_op(self, op: Callable[[], Awaitable[T]], method: str) -> T:
        try:
            return _strip_server_info(await op())
        except MCPError:
            raise
        except GatewayError as exc:
            raise MCPError(code=exc.code, message=exc.public_message) from None
        except TimeoutError:
            raise MCPError(code=types.REQUEST_TIMEOUT, message="The upstream server did not answer in time.") from None
        except Exception:
            log.exception("unexpected error", method=method)
            raise MCPError(code=types.INTERNAL_ERROR, message="Internal gateway error.") from None


R = TypeVar("R")


def _strip_server_info(result: R) -> R:
    """Drop the upstream's serverInfo stamp so the gateway's own is stamped (2026-07-28).

    In place: every upstream result is a fresh object owned by the request it answers (a copy per call cost more
    than the rest of this step).
    """
    meta = getattr(result, "meta", None)
    if meta and types.SERVER_INFO_META_KEY in meta:
        del meta[types.SERVER_INFO_META_KEY]
        if not meta:
            result.meta = None  # type: ignore[attr-defined]
    return result
