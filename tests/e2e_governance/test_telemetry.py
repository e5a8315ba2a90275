"""Issue 5 acceptance (telemetry): a real OTLP/HTTP receiver gets the gateway's decision and result log records
and its call metrics; an unreachable collector neither slows nor breaks calls.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import cast

import mcp_types as types
import pytest

from tests.e2e_governance.helpers import connect, text_of
from tests.support.gateway_proc import fixture_upstream, read_record, running_gateway, write_config
from tests.support.otlp_receiver import OtlpReceiver, closed_port_url

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ERAS = ["legacy", "2026-07-28"]


def _telemetry(endpoint: str) -> dict[str, object]:
    return {"enabled": True, "endpoint": endpoint, "batch_delay": 0.1, "metric_export_interval": 1}


@pytest.fixture(params=ERAS)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_otlp_logs_and_metrics(tmp_path: Path, otlp_receiver: OtlpReceiver, mode: str) -> None:
    cfg = write_config(
        tmp_path / "upstreams.yaml", {"fx": fixture_upstream()}, {"telemetry": _telemetry(otlp_receiver.url)}
    )
    with running_gateway(cfg, http=True) as gw:
        gw.wait_settled()
        assert gw.url is not None
        async with connect(gw.url, mode) as client:
            got = await client.call_tool("fx__echo", {"text": "traced"})
            assert text_of(got) == "traced"

        def about_echo(r: dict[str, object]) -> bool:
            attrs = r["attributes"]
            assert isinstance(attrs, dict)
            return attrs.get("upstream") == "fx" and attrs.get("tool") == "echo"

        decision = otlp_receiver.wait_for(
            "logs", 1, lambda r: r["event_name"] == "mcp_gateway.tool_decision" and about_echo(r)
        )[0]
        assert decision["attributes"]["decision"] == "allow"
        assert decision["attributes"]["final"] is True
        assert decision["attributes"]["call_id"]
        result = otlp_receiver.wait_for(
            "logs", 1, lambda r: r["event_name"] == "mcp_gateway.tool_result" and about_echo(r)
        )[0]
        assert result["attributes"]["outcome"] == "ok"
        assert result["attributes"]["call_id"] == decision["attributes"]["call_id"]
        assert result["resource"]["service.name"] == "mcp-gateway"
        calls = otlp_receiver.wait_for(
            "metrics",
            1,
            lambda m: m["name"] == "mcp_gateway.calls" and m["attributes"].get("mcp_gateway.upstream") == "fx",
            timeout=10,
        )
        assert calls[-1]["value"] >= 1
        assert calls[-1]["attributes"]["mcp_gateway.decision"] == "allow"


async def test_otlp_request_spans_continue_the_client_trace(tmp_path: Path, otlp_receiver: OtlpReceiver) -> None:
    record = tmp_path / "record.jsonl"
    cfg = write_config(
        tmp_path / "upstreams.yaml",
        {"fx": fixture_upstream(record=record)},
        {"telemetry": _telemetry(otlp_receiver.url)},
    )
    trace_id = secrets.token_hex(16)
    parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    with running_gateway(cfg, http=True) as gw:
        gw.wait_settled()
        assert gw.url is not None
        async with connect(gw.url, "2026-07-28") as client:
            await client.call_tool(
                "fx__echo", {"text": "span me"}, meta=cast(types.RequestParamsMeta, {"traceparent": parent})
            )
        spans = otlp_receiver.wait_for("spans", 2, lambda s: s["trace_id"] == trace_id)
    server = [s for s in spans if s["kind"] == "server"]
    upstream = [s for s in spans if s["kind"] == "client"]
    assert len(server) == 1 and server[0]["name"] == "tools/call fx__echo", spans
    assert len(upstream) == 1 and upstream[0]["parent_span_id"] == server[0]["span_id"], spans
    assert upstream[0]["attributes"]["mcp_gateway.upstream"] == "fx"
    # The upstream continues the same trace: its traceparent names the gateway's upstream span.
    sent = [e["meta"].get("traceparent", "") for e in read_record(record) if e.get("tool") == "echo"]
    assert sent and sent[-1].split("-")[1:3] == [trace_id, upstream[0]["span_id"]], sent
    logs = otlp_receiver.wait_for("logs", 1, lambda r: r["event_name"] == "mcp_gateway.tool_result")
    assert logs[-1]["trace_id"] == trace_id


async def test_unreachable_collector_does_not_slow_calls(tmp_path: Path, mode: str) -> None:
    cfg = write_config(
        tmp_path / "upstreams.yaml",
        {"fx": fixture_upstream()},
        {"telemetry": _telemetry(closed_port_url()) | {"export_timeout": 0.5, "shutdown_timeout": 0.5}},
    )
    with running_gateway(cfg, http=True) as gw:
        gw.wait_settled()
        assert gw.url is not None
        async with connect(gw.url, mode) as client:
            started = time.monotonic()
            for i in range(20):
                got = await client.call_tool("fx__echo", {"text": f"n{i}"})
                assert text_of(got) == f"n{i}"
            elapsed = time.monotonic() - started
        # Exports fail every 0.1 s in the background; 20 calls must not wait on them (each would cost >= 0.1 s).
        assert elapsed < 2.0, elapsed
        gw.assert_alive()
