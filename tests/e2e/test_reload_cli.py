"""Hot reload and the ``upstreams`` CLI, end to end against a running gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp import Client

from tests.e2e.clients import ERAS, Recorder, connect, tool_names, wait_for_tools
from tests.support.gateway_proc import (
    FIXTURE,
    PYTHON,
    GatewayProcess,
    await_until,
    fixture_upstream,
    run_cli,
    running_gateway,
    wait_until,
    write_config,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    d = tmp_path_factory.mktemp("reload")
    cfg = write_config(d / "upstreams.yaml", {"fx": fixture_upstream()})
    with running_gateway(cfg, http=True) as gw:
        gw.wait_upstream("fx", {"ready"})
        yield gw


@pytest.fixture(params=ERAS)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _cli(gw: GatewayProcess, *args: str) -> str:
    done = run_cli(*args, config=gw.config)
    assert done.returncode == 0, f"`mcp-gateway {' '.join(args)}` failed ({done.returncode}):\n{done.stderr}"
    return done.stdout


def _list_json(gw: GatewayProcess) -> dict[str, dict[str, object]]:
    data = json.loads(_cli(gw, "upstreams", "list", "--json"))
    assert data["gateway_running"] is True, data
    return {row["name"]: row for row in data["upstreams"]}


@asynccontextmanager
async def _changes(client: Client, mode: str, rec: Recorder) -> AsyncIterator[anyio.Event]:
    """An event set when the client is told the tool list changed (push for legacy, listen stream for modern)."""
    seen = anyio.Event()
    if mode == "legacy":
        count = rec.list_changed_count()
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await await_until(lambda: rec.list_changed_count() > count, 30, "tools/list_changed")
                seen.set()

            tg.start_soon(watch)
            yield seen
    else:
        async with client.listen(tools_list_changed=True) as sub, anyio.create_task_group() as tg:

            async def watch() -> None:
                await sub.__anext__()
                seen.set()

            tg.start_soon(watch)
            yield seen


async def _wait_names(client: Client, present: str, want: bool) -> None:
    with anyio.fail_after(30):
        while (present in await tool_names(client)) != want:  # noqa: ASYNC110 - polling the remote gateway
            await anyio.sleep(0.1)


def test_list_json_shows_live_state(gateway: GatewayProcess) -> None:
    rows = _list_json(gateway)
    assert rows["fx"]["state"] == "ready" and rows["fx"]["tools"] == 19, rows
    assert rows["fx"]["pid"] == gateway.upstream_status("fx")["pid"]  # type: ignore[index]


def test_check_upstream(gateway: GatewayProcess) -> None:
    out = _cli(gateway, "upstreams", "check", "fx")
    assert "fx" in out and "19 tools" in out, out
    assert "echo" in out
    data = json.loads(_cli(gateway, "upstreams", "check", "fx", "--json"))
    assert "echo" in json.dumps(data)


async def test_add_disable_enable_remove(gateway: GatewayProcess, mode: str) -> None:
    name = "new-legacy" if mode == "legacy" else "new-modern"
    exposed = f"{name}__echo"
    rec = Recorder()
    assert gateway.url is not None
    async with connect(gateway.url, mode, rec) as client:
        await wait_for_tools(client, ["fx"])
        assert exposed not in await tool_names(client)

        async with _changes(client, mode, rec) as changed:
            _cli(gateway, "upstreams", "add", name, "--command", PYTHON, "--", FIXTURE)
            with anyio.fail_after(40):
                await changed.wait()
        await _wait_names(client, exposed, True)
        result = await client.call_tool(exposed, {"text": "hot"})
        assert result.structured_content == {"text": "hot"}
        wait_until(lambda: _list_json(gateway)[name]["state"] == "ready", 20, f"{name} ready in `upstreams list`")
        assert _list_json(gateway)[name]["tools"] == 19

        async with _changes(client, mode, rec) as changed:
            _cli(gateway, "upstreams", "disable", name)
            with anyio.fail_after(30):
                await changed.wait()
        await _wait_names(client, exposed, False)
        assert _list_json(gateway)[name]["state"] == "disabled"

        _cli(gateway, "upstreams", "enable", name)
        await _wait_names(client, exposed, True)

        _cli(gateway, "upstreams", "remove", name)
        await _wait_names(client, exposed, False)
        assert name not in _list_json(gateway)
        assert "fx__echo" in await tool_names(client)  # the others were never disturbed


async def test_invalid_edit_is_rejected(gateway: GatewayProcess) -> None:
    path = anyio.Path(gateway.config)
    original = await path.read_text(encoding="utf-8")
    log_before = gateway.stderr_text().count("config reload rejected")
    try:
        await path.write_text(
            original.replace("upstreams:", "upstreams:\n  Bad Name!: {command: nope, bogus: 1}"), "utf-8"
        )
        wait_until(
            lambda: gateway.stderr_text().count("config reload rejected") > log_before,
            20,
            "the gateway to log the rejected reload",
        )
        assert gateway.url is not None
        async with connect(gateway.url, "legacy") as client:
            names = await tool_names(client)
            assert "fx__echo" in names
            result = await client.call_tool("fx__echo", {"text": "still serving"})
            assert result.structured_content == {"text": "still serving"}
        gateway.assert_alive()
    finally:
        await path.write_text(original, encoding="utf-8")
