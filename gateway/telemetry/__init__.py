"""OpenTelemetry for the gateway: MCP-semconv traces, audit events as log records, and metrics over OTLP/HTTP.

Typical use::

    settings = TelemetrySettings.from_config(config.gateway.telemetry, path=str(config_path))
    telemetry = Telemetry.create(settings, resolved_headers)      # no-op when disabled
    with telemetry.request_span("tools/call", "read_file", session_id=sid, request_id=rid,
                                protocol_version=pv, transport="stdio", meta=params_meta):
        with telemetry.child_span("policy"):
            ...
        with telemetry.upstream_span("tools/call", "read_file", upstream="files", transport="stdio"):
            await upstream.call_tool(..., meta=telemetry.inject_meta(params_meta))
    events = TeeEventSink(audit_sink, telemetry)                  # audit first (durable), then telemetry
    await telemetry.emit("tool_decision", {...})                   # Telemetry is an EventSink itself
    telemetry.record_call("files", "read_file", "allow", 0.12, is_error=False)
    await telemetry.aclose()
"""

from gateway.telemetry.core import EVENT_PREFIX, RedactHook, Telemetry, mark_error, mark_tool_error
from gateway.telemetry.settings import TelemetrySettings
from gateway.telemetry.sink import TeeEventSink

__all__ = [
    "EVENT_PREFIX",
    "RedactHook",
    "TeeEventSink",
    "Telemetry",
    "TelemetrySettings",
    "mark_error",
    "mark_tool_error",
]
