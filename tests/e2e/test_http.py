"""The Streamable HTTP front: health and readiness, DNS-rebinding protection, many sessions, per-client asks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import mcp_types as types
import pytest

from tests.e2e.clients import ERAS, Recorder, connect, wait_for_tools
from tests.support.gateway_proc import (
    GatewayProcess,
    fixture_upstream,
    http_json,
    running_gateway,
    wait_until,
    write_config,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    d = tmp_path_factory.mktemp("http")
    cfg = write_config(
        d / "upstreams.yaml",
        {"fx": fixture_upstream(), "hs": fixture_upstream("--hang-at-start", startup_timeout=3)},
    )
    with running_gateway(cfg, http=True) as gw:
        yield gw


@pytest.fixture(params=ERAS)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _url(gw: GatewayProcess) -> str:
    assert gw.url is not None
    return gw.url


def test_healthz_and_readyz(gateway: GatewayProcess) -> None:
    status, _headers, body = http_json(gateway.base_url + "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})

    def ready() -> dict[str, object] | None:
        code, _h, raw = http_json(gateway.base_url + "/readyz")
        data: dict[str, object] = json.loads(raw)
        assert code in (200, 503), (code, raw)
        assert (code == 200) == (data["status"] == "ready"), (code, data)
        return data if code == 200 else None

    data = wait_until(ready, 30, "/readyz to answer 200")
    # Settled means every upstream is either up or failed, not necessarily healthy.
    assert data["upstreams"] == {"fx": "ready", "hs": "failed"}, data


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example.com"}, {"Host": "evil.example.com:80"}, {"Origin": "http://evil.example.com"}],
    ids=["host", "host-port", "origin"],
)
def test_dns_rebinding_is_rejected(gateway: GatewayProcess, headers: dict[str, str]) -> None:
    status, _h, body = http_json(
        _url(gateway), body=json.dumps(INIT).encode(), headers={**HEADERS, **headers}, method="POST"
    )
    assert status in (403, 421), (status, body)
    assert b"capabilities" not in body
    # The same request naming the real listener is served.
    ok, _h, _b = http_json(_url(gateway), body=json.dumps(INIT).encode(), headers=HEADERS, method="POST")
    assert ok == 200


async def test_legacy_http_advertises_list_changed(gateway: GatewayProcess) -> None:
    async with connect(_url(gateway), "legacy") as client:
        caps = client.server_capabilities
        assert caps is not None and caps.tools is not None
        assert caps.tools.list_changed is True


async def test_hundred_concurrent_sessions(gateway: GatewayProcess) -> None:
    """50 legacy + 50 modern clients at once, each with its own session, each calling echo."""
    async with connect(_url(gateway), "legacy") as client:
        await wait_for_tools(client, ["fx"])
    results: dict[str, str] = {}

    async def one(i: int) -> None:
        mode = "legacy" if i % 2 else "2026-07-28"
        async with connect(_url(gateway), mode, read_timeout_seconds=60) as client:
            result = await client.call_tool("fx__echo", {"text": f"client-{i}"})
            assert not result.is_error, result
            results[f"client-{i}"] = "".join(c.text for c in result.content if isinstance(c, types.TextContent))

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(one, i)
    assert results == {f"client-{i}": f"client-{i}" for i in range(100)}
    gateway.assert_alive()


async def test_elicitation_goes_to_the_asking_client(gateway: GatewayProcess, mode: str) -> None:
    """Two clients connected at once: each elicitation reaches only the client whose call asked."""
    alice, bob, idle = Recorder(answer="alice"), Recorder(answer="bob"), Recorder(answer="idle")
    got: dict[str, str] = {}
    async with (
        connect(_url(gateway), mode, alice) as a,
        connect(_url(gateway), mode, bob) as b,
        connect(_url(gateway), mode, idle) as c,
    ):
        await wait_for_tools(c, ["fx"])

        async def ask(who: str, client: object, question: str) -> None:
            result = await client.call_tool("fx__elicit", {"question": question})  # type: ignore[attr-defined]
            got[who] = "".join(x.text for x in result.content if isinstance(x, types.TextContent))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask, "alice", a, "for alice")
                tg.start_soon(ask, "bob", b, "for bob")
    assert got == {"alice": "accept:alice", "bob": "accept:bob"}
    assert alice.elicitations == ["for alice"]
    assert bob.elicitations == ["for bob"]
    assert idle.elicitations == []
