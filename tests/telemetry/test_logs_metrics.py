"""Audit events as OTel log records, and metrics, against the real OTLP/HTTP receiver."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from gateway.config.secrets import SecretRef
from gateway.intercept.call import EventSink
from gateway.telemetry import Telemetry
from tests.support.otlp_receiver import OtlpReceiver, Record

pytestmark = pytest.mark.anyio


async def test_events_become_log_records_in_span_context(telemetry: Telemetry, otlp_receiver: OtlpReceiver) -> None:
    sink: EventSink = telemetry  # Telemetry satisfies the interception chain's EventSink protocol
    await sink.emit("session_start", {"client.name": "claude", "client.version": "1.2", "transport": "stdio"})
    with telemetry.request_span("tools/call", "rm") as span:
        await sink.emit(
            "tool_decision",
            {
                "decision": "deny",
                "rules": ["no-rm", "default"],
                "source": "rule",
                "arguments": {"path": "/tmp/x", "recursive": True},
                "approver": None,
            },
            durable=True,
        )
        ctx = span.get_span_context()
    await sink.emit("mcp_gateway.tool_result", {"duration_ms": 12.5, "is_error": False, "size": 120})
    assert telemetry.flush(5)

    logs = {r["event_name"]: r for r in otlp_receiver.wait_for("logs", 3)}
    assert set(logs) == {"mcp_gateway.session_start", "mcp_gateway.tool_decision", "mcp_gateway.tool_result"}
    start = logs["mcp_gateway.session_start"]
    assert start["body"] == "mcp_gateway.session_start"
    assert start["attributes"] == {"client.name": "claude", "client.version": "1.2", "transport": "stdio"}
    assert start["severity"] == "INFO"
    assert start["resource"]["service.name"] == "mcp-gateway"
    decision = logs["mcp_gateway.tool_decision"]
    assert decision["attributes"] == {
        "decision": "deny",
        "rules": ["no-rm", "default"],
        "source": "rule",
        "arguments": '{"path":"/tmp/x","recursive":true}',
    }
    assert decision["trace_id"] == format(ctx.trace_id, "032x")
    assert decision["span_id"] == format(ctx.span_id, "016x")
    assert start["trace_id"] == ""  # emitted outside any span
    result = logs["mcp_gateway.tool_result"]["attributes"]
    assert result == {"duration_ms": 12.5, "is_error": False, "size": 120}


async def test_redact_hook_runs_before_export(otlp_receiver: OtlpReceiver) -> None:
    from gateway.telemetry import TelemetrySettings

    calls: list[str] = []

    def redact(event: str, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        calls.append(event)
        return {k: ("[REDACTED]" if k == "token" else v) for k, v in fields.items()}

    tel = Telemetry.create(
        TelemetrySettings(enabled=True, endpoint=otlp_receiver.url, batch_delay=0.05, metrics=False), redact=redact
    )
    try:
        await tel.emit("credentials_used", {"names": ["gh-token"], "token": "ghp_secret"})
        tel.flush(5)
        (record,) = otlp_receiver.wait_for("logs", 1)
    finally:
        tel.shutdown(2)
    assert calls == ["credentials_used"]
    assert record["attributes"] == {"names": ["gh-token"], "token": "[REDACTED]"}
    assert "ghp_secret" not in repr(otlp_receiver.requests) + repr(record)


def _point(name: str, **attrs: Any) -> Callable[[Record], bool]:
    return lambda r: r["name"] == name and all(r["attributes"].get(k) == v for k, v in attrs.items())


async def test_metrics_arrive_with_attributes(telemetry: Telemetry, otlp_receiver: OtlpReceiver) -> None:
    telemetry.record_call("files", "read_file", "allow", 0.25, is_error=False)
    telemetry.record_call("files", "read_file", "allow", 0.75, is_error=False)
    telemetry.record_call("shell", "exec", "deny", 0.001, is_error=True)
    telemetry.record_approval("requested", upstream="shell", tool="exec")
    telemetry.record_approval("answered", "allow_once", upstream="shell", tool="exec", wait_s=3.0)
    telemetry.record_upstream_restart("files")
    telemetry.record_upstream_restart("files")
    assert telemetry.flush(5)

    def latest(name: str, **attrs: Any) -> Record:
        # Cumulative temporality: the newest point of a series holds the running total.
        return otlp_receiver.wait_for("metrics", 1, _point(name, **attrs))[-1]

    upstream, tool, decision = "mcp_gateway.upstream", "gen_ai.tool.name", "mcp_gateway.decision"
    calls = latest("mcp_gateway.calls", **{decision: "allow"})
    assert calls["attributes"] == {
        upstream: "files",
        tool: "read_file",
        decision: "allow",
        "mcp_gateway.is_error": False,
    }
    assert (calls["type"], calls["value"], calls["unit"]) == ("sum", 2, "{call}")
    hist = latest("mcp_gateway.call.duration", **{decision: "allow"})
    assert (hist["type"], hist["count"], hist["sum"], hist["unit"]) == ("histogram", 2, 1.0, "s")
    assert hist["bounds"][:3] == [0.01, 0.02, 0.05]
    denied = latest("mcp_gateway.calls", **{decision: "deny"})
    assert denied["attributes"]["error.type"] == "tool_error"
    assert denied["attributes"][upstream] == "shell"
    assert latest("mcp_gateway.approvals.requested", **{tool: "exec"})["value"] == 1
    assert latest("mcp_gateway.approvals.answered", **{"mcp_gateway.approval.option": "allow_once"})["value"] == 1
    wait = latest("mcp_gateway.approval.wait")
    assert (wait["count"], wait["sum"]) == (1, 3.0)
    assert latest("mcp_gateway.upstream.restarts", **{upstream: "files"})["value"] == 2


async def test_headers_with_resolved_secrets_are_sent(
    otlp_receiver: OtlpReceiver, make_telemetry: Callable[..., Telemetry]
) -> None:
    tel = make_telemetry(
        otlp_receiver.url,
        {"Authorization": "Bearer t0ken"},
        headers={"Authorization": SecretRef(secret="otel", template="Bearer {secret}"), "X-Tenant": "acme"},
        service_name="gw-test",
        resource_attributes={"deployment.environment.name": "ci"},
    )
    await tel.emit("config_reload", {"ok": True})
    tel.flush(5)
    (record,) = otlp_receiver.wait_for("logs", 1)
    assert record["resource"]["service.name"] == "gw-test"
    assert record["resource"]["deployment.environment.name"] == "ci"
    (req,) = [r for r in otlp_receiver.requests if r["path"] == "/v1/logs"]
    assert req["headers"]["authorization"] == "Bearer t0ken"
    assert req["headers"]["x-tenant"] == "acme"
