"""MCP semconv attributes and the flattening of audit fields into OTel attribute values."""

from __future__ import annotations

import json
from enum import Enum

from gateway.errors import PolicyDeniedError, UpstreamTimeoutError
from gateway.telemetry.attributes import error_attributes, flatten_fields, request_attributes, span_name


class Decision(Enum):
    ALLOW = "allow"


def test_span_name_and_tool_attributes() -> None:
    assert span_name("tools/call", "read_file") == "tools/call read_file"
    assert span_name("tools/list", None) == "tools/list"
    attrs = request_attributes(
        "tools/call", "read_file", session_id="s1", request_id=7, protocol_version="2025-06-18", transport="stdio"
    )
    assert attrs == {
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": "read_file",
        "gen_ai.operation.name": "execute_tool",
        "mcp.session.id": "s1",
        "jsonrpc.request.id": "7",
        "mcp.protocol.version": "2025-06-18",
        "network.transport": "pipe",
    }


def test_prompt_resource_and_http_attributes() -> None:
    assert request_attributes("prompts/get", "greet")["gen_ai.prompt.name"] == "greet"
    res = request_attributes("resources/read", "file:///a.txt", transport="http")
    assert res["mcp.resource.uri"] == "file:///a.txt"
    assert res["network.transport"] == "tcp"
    assert "gen_ai.tool.name" not in res


def test_error_attributes_hold_no_exception_text() -> None:
    denied = error_attributes(PolicyDeniedError("no", rule_id="r1"))
    assert denied == {"error.type": "tool_error", "mcp_gateway.refusal": "PolicyDeniedError"}
    timeout = error_attributes(UpstreamTimeoutError(detail="token=abc"))
    assert timeout["error.type"] == str(UpstreamTimeoutError.code)
    assert "abc" not in json.dumps(timeout)
    assert error_attributes(KeyError("secret-key")) == {"error.type": "KeyError"}


def test_flatten_fields() -> None:
    out = flatten_fields(
        {
            "tool": "read_file",
            "ok": True,
            "n": 3,
            "ratio": 0.5,
            "none": None,
            "rules": ["r1", "r2"],
            "mixed": [1, "a"],
            "args": {"path": "/etc/hosts", "depth": {"x": 1}},
            "huge": 2**70,
            "decision": Decision.ALLOW,
            "blob": b"abc",
            "long": "x" * 100,
        },
        max_length=20,
    )
    assert out["tool"] == "read_file"
    assert out["ok"] is True and out["n"] == 3 and out["ratio"] == 0.5
    assert "none" not in out
    assert out["rules"] == ["r1", "r2"]
    assert out["mixed"] == '[1,"a"]'
    assert json.loads(str(flatten_fields({"args": {"path": "/etc/hosts", "d": {"x": 1}}})["args"])) == {
        "d": {"x": 1},
        "path": "/etc/hosts",
    }
    assert isinstance(out["args"], str) and len(out["args"]) == 20 and out["args"].endswith("…")
    assert out["huge"] == str(2**70)
    assert out["decision"] == "allow"
    assert out["blob"] == '"<3 bytes>"'
    assert out["long"] == "x" * 19 + "…"
