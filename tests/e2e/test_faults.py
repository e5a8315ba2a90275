"""Upstream faults: the gateway stays up, healthy upstreams keep working and clients get clear errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import mcp_types as types
import pytest
from mcp import MCPError

from tests.e2e.clients import ERAS, connect, tool_names, wait_for_tools
from tests.support.gateway_proc import GatewayProcess, fixture_upstream, running_gateway, wait_until, write_config

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# What a client must never see in an error: internals of the gateway or the SDK.
LEAKS = ("Traceback", "Exception", 'File "', ".py", "anyio", "ClosedResourceError", "BrokenResourceError")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    d = tmp_path_factory.mktemp("faults")
    cfg = write_config(
        d / "upstreams.yaml",
        {
            "fx": fixture_upstream(),
            "ex": fixture_upstream("--exit-at-start"),
            "hs": fixture_upstream("--hang-at-start", startup_timeout=2),
            "gb": fixture_upstream("--garbage-stdout"),
            "fl": fixture_upstream("--flood-stderr"),
            "cr": fixture_upstream(),
            "to": fixture_upstream(call_timeout=1),
        },
    )
    with running_gateway(cfg, http=True) as gw:
        for name in ("fx", "gb", "fl", "cr", "to"):
            gw.wait_upstream(name, {"ready"}, timeout=60)
        for name in ("ex", "hs"):
            gw.wait_upstream(name, {"failed"}, timeout=30)
        yield gw


@pytest.fixture(params=ERAS)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _text(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


def _assert_clean(message: str) -> None:
    for leak in LEAKS:
        assert leak not in message, f"client-visible error leaks {leak!r}: {message}"


async def test_failed_upstreams_are_reported_and_others_work(faulty: GatewayProcess, mode: str) -> None:
    status = faulty.status()
    assert status is not None
    ups = status["upstreams"]
    assert ups["ex"]["state"] == "failed" and ups["ex"]["error"], ups["ex"]
    assert ups["hs"]["state"] == "failed" and "startup_timeout" in ups["hs"]["error"], ups["hs"]
    assert faulty.url is not None
    async with connect(faulty.url, mode) as client:
        names = await wait_for_tools(client, ["fx", "gb", "fl", "cr", "to"])
        assert not [n for n in names if n.startswith(("ex__", "hs__"))]
        for prefix in ("fx", "gb", "fl"):
            result = await client.call_tool(f"{prefix}__echo", {"text": prefix})
            assert _text(result) == prefix
        with pytest.raises(MCPError) as err:
            await client.call_tool("ex__echo", {"text": "x"})
        assert err.value.code == types.INVALID_PARAMS
    faulty.assert_alive()


async def test_exit_at_start_error_names_the_exit(faulty: GatewayProcess) -> None:
    up = faulty.upstream_status("ex")
    assert up is not None
    assert "exit" in (up["error"] or "").lower(), up


async def test_crash_mid_call_then_restart(faulty: GatewayProcess, mode: str) -> None:
    first = faulty.wait_upstream("cr", {"ready"})
    assert faulty.url is not None
    async with connect(faulty.url, mode) as client:
        await wait_for_tools(client, ["cr"])
        with anyio.fail_after(30):
            try:
                result = await client.call_tool("cr__crash", {})
            except MCPError as exc:
                message = exc.message
            else:
                assert result.is_error, result
                message = _text(result)
        assert message, "the crash produced an empty error"
        _assert_clean(message)

        def restarted() -> bool:
            up = faulty.upstream_status("cr")
            return up is not None and up["state"] == "ready" and up["pid"] not in (None, first["pid"])

        wait_until(restarted, 30, "the crashed upstream to be restarted")
        await wait_for_tools(client, ["cr"])
        again = await client.call_tool("cr__echo", {"text": "back"})
        assert _text(again) == "back"
        other = await client.call_tool("fx__echo", {"text": "still here"})
        assert _text(other) == "still here"
    faulty.assert_alive()


async def test_call_timeout(faulty: GatewayProcess, mode: str) -> None:
    assert faulty.url is not None
    async with connect(faulty.url, mode) as client:
        await wait_for_tools(client, ["to"])
        started = time.monotonic()
        with anyio.fail_after(15):
            try:
                result = await client.call_tool("to__hang", {})
            except MCPError as exc:
                assert exc.code == types.REQUEST_TIMEOUT, exc
                message = exc.message
            else:
                assert result.is_error, result
                message = _text(result)
        assert "did not answer" in message and "'to'" in message, message
        _assert_clean(message)
        assert time.monotonic() - started < 10
        # The connection and the upstream still work.
        assert _text(await client.call_tool("to__echo", {"text": "ok"})) == "ok"


async def test_progress_resets_call_timeout(faulty: GatewayProcess, mode: str) -> None:
    """count n=5 delay=0.4 takes 2 s in all, longer than call_timeout=1, but reports progress every 0.4 s."""
    assert faulty.url is not None
    async with connect(faulty.url, mode) as client:
        await wait_for_tools(client, ["to"])
        result = await client.call_tool("to__count", {"n": 5, "delay": 0.4})
        assert not result.is_error, result
        assert _text(result) == "counted to 5"


async def test_gateway_lists_only_healthy_tools(faulty: GatewayProcess) -> None:
    assert faulty.url is not None
    async with connect(faulty.url, "legacy") as client:
        names = await tool_names(client)
    prefixes = {n.split("__", 1)[0] for n in names}
    assert prefixes == {"fx", "gb", "fl", "cr", "to"}, prefixes
