"""Spans against the real OTLP/HTTP receiver: MCP semconv attributes, structure and trace continuation."""

from __future__ import annotations

from typing import Literal, cast

import anyio
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp_types import RequestParamsMeta
from opentelemetry import trace

from gateway.errors import PolicyDeniedError
from gateway.telemetry import Telemetry, mark_tool_error
from tests.support.otlp_receiver import OtlpReceiver, Record

pytestmark = pytest.mark.anyio

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
CLIENT_META = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", "tracestate": "vendor=abc", "progressToken": 3}


def _by_name(rx: OtlpReceiver, n: int) -> dict[str, Record]:
    spans = rx.wait_for("spans", n)
    return {str(s["name"]): s for s in spans}


async def test_request_span_with_children(telemetry: Telemetry, otlp_receiver: OtlpReceiver) -> None:
    with telemetry.request_span(
        "tools/call",
        "read_file",
        session_id="sess-1",
        request_id=42,
        protocol_version="2025-11-25",
        transport="stdio",
        meta=None,
    ):
        with telemetry.child_span("policy", {"mcp_gateway.rule": "allow-reads"}, matched=["r1", "r2"]):
            await anyio.lowlevel.checkpoint()
        with telemetry.child_span("approval wait"):
            await anyio.lowlevel.checkpoint()
        with telemetry.upstream_span("tools/call", "read_file", upstream="files", transport="stdio"):
            await anyio.lowlevel.checkpoint()
    assert telemetry.flush(5)

    spans = _by_name(otlp_receiver, 4)
    root = spans["tools/call read_file"]
    assert root["kind"] == "server"
    assert root["parent_span_id"] == ""
    assert root["attributes"] == {
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": "read_file",
        "gen_ai.operation.name": "execute_tool",
        "mcp.session.id": "sess-1",
        "jsonrpc.request.id": "42",
        "mcp.protocol.version": "2025-11-25",
        "network.transport": "pipe",
    }
    assert root["resource"]["service.name"] == "mcp-gateway"
    assert root["scope"] == "mcp_gateway"
    policy, wait = spans["policy"], spans["approval wait"]
    assert policy["attributes"] == {"mcp_gateway.rule": "allow-reads", "matched": ["r1", "r2"]}
    upstream = [s for s in otlp_receiver.spans if s["kind"] == "client"]
    assert len(upstream) == 1
    assert upstream[0]["name"] == "tools/call read_file"
    assert upstream[0]["attributes"]["mcp_gateway.upstream"] == "files"
    for child in (policy, wait, upstream[0]):
        assert child["trace_id"] == root["trace_id"]
        assert child["parent_span_id"] == root["span_id"]
    assert policy["kind"] == wait["kind"] == "internal"


async def test_trace_continues_from_client_meta(telemetry: Telemetry, otlp_receiver: OtlpReceiver) -> None:
    with telemetry.request_span("tools/list", session_id="s", request_id="r-1", transport="http", meta=CLIENT_META):
        pass
    telemetry.flush(5)
    (span,) = otlp_receiver.wait_for("spans", 1)
    assert span["name"] == "tools/list"
    assert span["trace_id"] == CLIENT_TRACE
    assert span["parent_span_id"] == CLIENT_SPAN
    assert span["attributes"]["network.transport"] == "tcp"


async def test_invalid_traceparent_starts_a_new_trace(telemetry: Telemetry, otlp_receiver: OtlpReceiver) -> None:
    with telemetry.request_span("prompts/get", "greet", meta={"traceparent": "garbage"}):
        pass
    telemetry.flush(5)
    (span,) = otlp_receiver.wait_for("spans", 1)
    assert span["parent_span_id"] == ""
    assert span["trace_id"] != CLIENT_TRACE
    assert span["attributes"]["gen_ai.prompt.name"] == "greet"


async def test_inject_meta_carries_our_span(telemetry: Telemetry, otlp_receiver: OtlpReceiver) -> None:
    outside = telemetry.inject_meta({"progressToken": 1})
    assert outside == {"progressToken": 1}
    with telemetry.request_span("tools/call", "t", meta=CLIENT_META):
        with telemetry.upstream_span("tools/call", "t", upstream="u") as up:
            out = telemetry.inject_meta(CLIENT_META)
            up_id = format(up.get_span_context().span_id, "016x")
    assert out is not CLIENT_META
    assert CLIENT_META["traceparent"] == f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"  # input untouched
    assert out["progressToken"] == 3
    assert out["traceparent"] == f"00-{CLIENT_TRACE}-{up_id}-01"
    assert out["tracestate"] == "vendor=abc"
    telemetry.flush(5)
    spans = otlp_receiver.wait_for("spans", 2)
    assert up_id in {s["span_id"] for s in spans}


async def test_errors_set_error_type_without_exception_text(telemetry: Telemetry, otlp_receiver: OtlpReceiver) -> None:
    with pytest.raises(PolicyDeniedError):
        with telemetry.request_span("tools/call", "rm"):
            raise PolicyDeniedError("Denied by rule no-rm.", rule_id="no-rm")
    with pytest.raises(RuntimeError):
        with telemetry.request_span("tools/call", "leaky"):
            with telemetry.child_span("upstream tools/call", kind="client"):
                raise RuntimeError("password=hunter2")
    with telemetry.request_span("tools/call", "failing") as span:
        mark_tool_error(span)
    telemetry.flush(5)
    spans = _by_name(otlp_receiver, 4)
    denied = spans["tools/call rm"]
    assert denied["attributes"]["error.type"] == "tool_error"
    assert denied["attributes"]["mcp_gateway.refusal"] == "PolicyDeniedError"
    assert (denied["status_code"], denied["status_message"]) == (2, "Denied by rule no-rm.")
    for name in ("tools/call leaky", "upstream tools/call"):
        assert spans[name]["attributes"]["error.type"] == "RuntimeError"
        assert spans[name]["status_code"] == 2
        assert "hunter2" not in repr(spans[name])
    assert spans["upstream tools/call"]["kind"] == "client"
    assert spans["tools/call failing"]["attributes"]["error.type"] == "tool_error"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_trace_continues_into_a_real_upstream(
    telemetry: Telemetry, otlp_receiver: OtlpReceiver, mode: Literal["legacy", "auto"]
) -> None:
    """client traceparent -> gateway SERVER span -> gateway CLIENT span -> the upstream's handler (mcp SDK)."""
    seen: dict[str, str] = {}
    upstream = MCPServer("upstream")

    @upstream.tool()
    def probe() -> str:
        # The upstream's SDK middleware makes the received traceparent the current span context.
        ctx = trace.get_current_span().get_span_context()
        seen["trace_id"], seen["parent"] = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        return "ok"

    async with Client(upstream, mode=mode) as client:
        with telemetry.request_span("tools/call", "up__probe", meta=CLIENT_META, transport="stdio"):
            with telemetry.upstream_span("tools/call", "probe", upstream="upstream", transport="stdio") as span:
                meta = cast(RequestParamsMeta, telemetry.inject_meta(CLIENT_META))
                result = await client.call_tool("probe", {}, meta=meta)
                our_id = format(span.get_span_context().span_id, "016x")
    assert not result.is_error
    assert seen == {"trace_id": CLIENT_TRACE, "parent": our_id}
    telemetry.flush(5)
    spans = otlp_receiver.wait_for("spans", 2)
    assert {s["trace_id"] for s in spans} == {CLIENT_TRACE}
