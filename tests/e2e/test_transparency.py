"""Transparency: with ``prefix: none`` and one upstream, a client sees what it sees talking to the upstream itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, MCPError, StdioServerParameters

from tests.e2e.clients import ERAS, connect, wait_for_tools
from tests.support.gateway_proc import FIXTURE, PYTHON, GatewayProcess, fixture_upstream, running_gateway, write_config

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# Per-hop stamps that legitimately differ: who answered, and the pid of the fixture process that answered.
VOLATILE_META = {types.SERVER_INFO_META_KEY, "fixture/pid"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    d = tmp_path_factory.mktemp("transparent")
    cfg = write_config(d / "upstreams.yaml", {"fx": fixture_upstream(prefix="none")})
    with running_gateway(cfg, http=True) as gw:
        gw.wait_upstream("fx", {"ready"})
        yield gw


@pytest.fixture(params=ERAS)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _dump(model: Any) -> Any:
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return _scrub(data)


def _scrub(data: Any) -> Any:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in ("_meta", "meta") and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in VOLATILE_META} or None
                if value is None:
                    continue
            if key in ("nextCursor", "next_cursor", "ttlMs", "ttl_ms", "cacheScope", "cache_scope"):
                continue  # paging and cache hints are per hop
            out[key] = _scrub(value)
        return out
    if isinstance(data, list):
        return [_scrub(v) for v in data]
    return data


async def _all_tools(client: Client) -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor, cache_mode="refresh")
        tools += [_dump(t) for t in page.tools]
        if (cursor := page.next_cursor) is None:
            return sorted(tools, key=lambda t: t["name"])


async def _observe(client: Client) -> dict[str, Any]:
    """Everything a client can see, as comparable data."""
    seen: dict[str, Any] = {
        "tools": await _all_tools(client),
        "resources": _dump(await client.list_resources()),
        "templates": _dump(await client.list_resource_templates()),
        "prompts": _dump(await client.list_prompts()),
        "readme": _dump(await client.read_resource("fixture://static/readme")),
        "item": _dump(await client.read_resource("fixture://items/9")),
        "greet": _dump(await client.get_prompt("greet", {"name": "Lin"})),
        "complete": _dump(
            await client.complete(
                types.PromptReference(type="ref/prompt", name="greet"), {"name": "name", "value": "a"}
            )
        ),
    }
    calls: list[tuple[str, dict[str, Any]]] = [
        ("echo", {"text": "same"}),
        ("add", {"a": 1.5, "b": 2}),
        ("fail", {"text": "bad"}),
        ("big", {"size": 5000}),
    ]
    for name, args in calls:
        seen[f"call:{name}"] = _dump(await client.call_tool(name, args))
    try:
        await client.call_tool("raise_error", {"text": "upstream says no"})
    except MCPError as exc:
        seen["raise_error"] = (exc.code, exc.message)
    return seen


async def test_single_upstream_without_prefix_is_transparent(gateway: GatewayProcess, mode: str) -> None:
    direct_params = StdioServerParameters(command=PYTHON, args=[FIXTURE])
    async with connect(direct_params, mode) as direct:
        expected = await _observe(direct)
    assert gateway.url is not None
    async with connect(gateway.url, mode) as through:
        await wait_for_tools(through, [])
        actual = await _observe(through)
    assert actual.keys() == expected.keys()
    for key in expected:
        assert actual[key] == expected[key], key
