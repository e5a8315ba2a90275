"""Bad client input over stdio and HTTP: the right JSON-RPC error, and the connection keeps working."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway_proc import (
    GatewayProcess,
    RawStdio,
    fixture_upstream,
    http_json,
    running_gateway,
    write_config,
)

pytestmark = pytest.mark.slow

MAX = 65536
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def _config(d: Path) -> Path:
    return write_config(d / "upstreams.yaml", {"fx": fixture_upstream()}, {"max_message_bytes": MAX})


def _echo(rpc: RawStdio, text: str) -> None:
    reply = rpc.call_tool("fx__echo", {"text": text})
    assert reply["result"]["structuredContent"] == {"text": text}, reply


def test_stdio_bad_input(tmp_path: Path) -> None:
    with running_gateway(_config(tmp_path)) as gw:
        rpc = RawStdio(gw)
        rpc.initialize()
        gw.wait_upstream("fx", {"ready"})
        _echo(rpc, "first")

        rpc.send_raw(b'{"jsonrpc": "2.0", "id": 1, "method": \n')  # truncated JSON
        err = rpc.recv()
        assert err["error"]["code"] == -32700 and err["id"] is None, err
        _echo(rpc, "after parse error")

        rpc.send({"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {"x": "y" * (MAX + 10)}})
        err = rpc.recv()
        assert err["error"]["code"] == -32600 and str(MAX) in err["error"]["message"], err
        _echo(rpc, "after oversized")

        reply = rpc.request("no/such/method", {})
        assert reply["error"]["code"] == -32601, reply
        _echo(rpc, "after unknown method")

        reply = rpc.request("tools/call", {"name": 5, "arguments": "not an object"})
        assert reply["error"]["code"] == -32602, reply
        reply = rpc.request("tools/list", {"cursor": {"not": "a string"}})
        assert reply["error"]["code"] == -32602, reply
        _echo(rpc, "after bad params")

        rpc.send({"jsonrpc": "1.0", "id": 5, "method": "ping"})  # not a JSON-RPC 2.0 message
        err = rpc.recv()
        assert err["error"]["code"] == -32600, err
        _echo(rpc, "last")
        gw.assert_alive()
    # Nothing but JSON-RPC ever reached stdout.
    assert rpc.lines
    for line in rpc.lines:
        message = json.loads(line)
        assert message.get("jsonrpc") == "2.0", line


@pytest.fixture(scope="module")
def http_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with running_gateway(_config(tmp_path_factory.mktemp("badhttp")), http=True) as gw:
        gw.wait_upstream("fx", {"ready"})
        yield gw


def _parse(body: bytes) -> dict[str, Any]:
    """A JSON body, or the single message of an SSE response."""
    text = body.decode()
    if text.lstrip().startswith("{"):
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    assert data, text
    parsed = json.loads(data[-1])
    return parsed


class HttpSession:
    """Raw POSTs to /mcp in one era (legacy: initialize first, then send Mcp-Session-Id)."""

    def __init__(self, url: str, era: str) -> None:
        self.url = url
        self.era = era
        self.headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if era == "legacy":
            status, headers, body = self.post_raw(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 0,
                        "method": "initialize",
                        "params": {
                            "protocolVersion": "2025-11-25",
                            "capabilities": {},
                            "clientInfo": {"name": "raw", "version": "1"},
                        },
                    }
                ).encode()
            )
            assert status == 200, body
            sid = {k.lower(): v for k, v in headers.items()}["mcp-session-id"]
            self.headers.update({"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
            self.post_raw(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode())
        else:
            self.headers["MCP-Protocol-Version"] = "2026-07-28"

    def post_raw(self, body: bytes, extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return http_json(self.url, body=body, headers={**self.headers, **(extra or {})}, method="POST")

    def request(
        self, id_: int, method: str, params: dict[str, Any], name: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        extra: dict[str, str] = {}
        if self.era != "legacy":
            params = {**params, "_meta": META}
            extra["Mcp-Method"] = method
            if name is not None:
                extra["Mcp-Name"] = name
        status, _h, body = self.post_raw(
            json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}).encode(), extra
        )
        return status, _parse(body)

    def echo(self, id_: int, text: str) -> None:
        status, reply = self.request(
            id_, "tools/call", {"name": "fx__echo", "arguments": {"text": text}}, name="fx__echo"
        )
        assert status == 200 and reply["result"]["structuredContent"] == {"text": text}, (status, reply)


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
def test_http_bad_input(http_gw: GatewayProcess, era: str) -> None:
    assert http_gw.url is not None
    s = HttpSession(http_gw.url, era)
    s.echo(1, "first")

    status, _h, body = s.post_raw(b'{"jsonrpc": "2.0", "id": 2, "method": ', {"Mcp-Method": "tools/list"})
    assert status == 400 and _parse(body)["error"]["code"] == -32700, (status, body)
    s.echo(3, "after parse error")

    big = json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"x": "y" * (MAX + 10)}})
    status, _h, body = s.post_raw(big.encode(), {"Mcp-Method": "tools/call"})
    assert status == 413, (status, body)
    s.echo(5, "after oversized")

    status, reply = s.request(6, "no/such/method", {})
    assert reply["error"]["code"] == -32601, (status, reply)
    s.echo(7, "after unknown method")

    status, reply = s.request(8, "tools/call", {"name": "fx__echo", "arguments": "not an object"}, name="fx__echo")
    assert reply["error"]["code"] == -32602, (status, reply)
    status, reply = s.request(9, "tools/list", {"cursor": {"not": "a string"}})
    assert reply["error"]["code"] == -32602, (status, reply)
    s.echo(10, "last")
    http_gw.assert_alive()
