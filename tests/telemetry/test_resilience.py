"""Off by default costs nothing; an unreachable collector never slows or breaks the request path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from gateway.errors import PolicyDeniedError
from gateway.telemetry import Telemetry, TelemetrySettings
from tests.support.otlp_receiver import OtlpReceiver, closed_port_url

pytestmark = pytest.mark.anyio

META = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


async def test_disabled_sends_nothing_and_is_a_no_op(
    otlp_receiver: OtlpReceiver, make_telemetry: Callable[..., Telemetry]
) -> None:
    threads_before = threading.active_count()
    off = Telemetry.create(TelemetrySettings(enabled=False, endpoint=otlp_receiver.url))
    assert not off.enabled
    assert threading.active_count() == threads_before  # no exporter threads

    start = time.perf_counter()
    for i in range(5_000):
        with off.request_span("tools/call", "t", session_id="s", request_id=i, meta=META) as span:
            with off.child_span("policy", rule="r"):
                await off.emit("tool_decision", {"decision": "allow", "args": {"a": 1}})
            off.record_call("u", "t", "allow", 0.1, is_error=False)
            off.record_approval("requested")
            off.record_upstream_restart("u")
            meta = off.inject_meta(META)
    elapsed = time.perf_counter() - start
    assert not span.is_recording()
    assert meta == META and meta is not META
    assert elapsed < 1.0, f"disabled telemetry took {elapsed:.3f}s for 5,000 requests"
    with pytest.raises(PolicyDeniedError):
        with off.request_span("tools/call", "x"):
            raise PolicyDeniedError()
    assert off.flush() and off.shutdown()

    # Prove the receiver would have seen records: an enabled instance's event arrives, and only it.
    on = make_telemetry(otlp_receiver.url)
    await on.emit("marker", {})
    on.flush(5)
    otlp_receiver.wait_for("logs", 1)
    assert [r["event_name"] for r in otlp_receiver.logs] == ["mcp_gateway.marker"]
    assert otlp_receiver.spans == [] and otlp_receiver.metrics == []


async def test_unreachable_collector_does_not_slow_calls(make_telemetry: Callable[..., Telemetry]) -> None:
    tel = make_telemetry(closed_port_url(), export_timeout=1.0, shutdown_timeout=0.5, max_queue_size=256)
    start = time.perf_counter()
    for i in range(1_000):
        with tel.request_span("tools/call", "t", session_id="s", request_id=i, meta=META):
            await tel.emit("tool_result", {"i": i, "is_error": False, "preview": "x" * 100})
            tel.record_call("u", "t", "allow", 0.01, is_error=False)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"1,000 calls took {elapsed:.3f}s against an unreachable collector"

    start = time.perf_counter()
    await tel.aclose()  # bounded by shutdown_timeout even with a full queue and a refusing endpoint
    took = time.perf_counter() - start
    assert took < 0.5 + 0.5, f"shutdown took {took:.3f}s"
    await tel.emit("after_close", {})  # after shutdown, emit is still harmless
    assert await tel.aclose() is True  # idempotent


async def test_flush_to_unreachable_collector_is_bounded(make_telemetry: Callable[..., Telemetry]) -> None:
    tel = make_telemetry(closed_port_url(), export_timeout=5.0)
    await tel.emit("tool_result", {"ok": True})
    start = time.perf_counter()
    await tel.aflush(0.3)
    assert time.perf_counter() - start < 0.8
    start = time.perf_counter()
    assert await tel.aclose(0.3) is False  # the export is still retrying: bounded, and reported
    assert time.perf_counter() - start < 0.8
