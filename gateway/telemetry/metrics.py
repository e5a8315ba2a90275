"""The gateway's metric instruments: calls and durations, approvals, upstream restarts."""

from __future__ import annotations

from typing import Literal

from opentelemetry.metrics import Meter
from opentelemetry.util.types import AttributeValue

__all__ = ["ApprovalStage", "GatewayMetrics"]

ApprovalStage = Literal["requested", "answered"]

# MCP semconv's advisory buckets for mcp.*.operation.duration (seconds).
_DURATION_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class GatewayMetrics:
    """Instruments created once on a meter; every ``record_*`` is an in-memory aggregation (no I/O)."""

    def __init__(self, meter: Meter) -> None:
        self._calls = meter.create_counter(
            "mcp_gateway.calls", unit="{call}", description="Tool calls handled, by upstream, tool and decision."
        )
        self._duration = meter.create_histogram(
            "mcp_gateway.call.duration",
            unit="s",
            description="Tool call duration as the client saw it, including approval waits.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._approvals_requested = meter.create_counter(
            "mcp_gateway.approvals.requested", unit="{approval}", description="Approvals asked of a person."
        )
        self._approvals_answered = meter.create_counter(
            "mcp_gateway.approvals.answered", unit="{approval}", description="Approvals answered, by option."
        )
        self._approval_wait = meter.create_histogram(
            "mcp_gateway.approval.wait",
            unit="s",
            description="Time from asking for an approval to its answer.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._restarts = meter.create_counter(
            "mcp_gateway.upstream.restarts", unit="{restart}", description="Upstream server restarts."
        )

    def record_call(self, upstream: str, tool: str, decision: str, duration_s: float, is_error: bool) -> None:
        attrs: dict[str, AttributeValue] = {
            "mcp_gateway.upstream": upstream,
            "gen_ai.tool.name": tool,
            "mcp_gateway.decision": decision,
            "mcp_gateway.is_error": is_error,
        }
        if is_error:
            attrs["error.type"] = "tool_error"
        self._calls.add(1, attrs)
        self._duration.record(max(0.0, duration_s), attrs)

    def record_approval(
        self,
        stage: ApprovalStage,
        option: str | None = None,
        *,
        upstream: str | None = None,
        tool: str | None = None,
        wait_s: float | None = None,
    ) -> None:
        attrs: dict[str, AttributeValue] = {}
        if upstream:
            attrs["mcp_gateway.upstream"] = upstream
        if tool:
            attrs["gen_ai.tool.name"] = tool
        if stage == "requested":
            self._approvals_requested.add(1, attrs)
            return
        if option:
            attrs["mcp_gateway.approval.option"] = option
        self._approvals_answered.add(1, attrs)
        if wait_s is not None:
            self._approval_wait.record(max(0.0, wait_s), attrs)

    def record_upstream_restart(self, upstream: str) -> None:
        self._restarts.add(1, {"mcp_gateway.upstream": upstream})
