"""Log notifications from an upstream reach the client whose call produced them, in both eras."""

from __future__ import annotations

from pathlib import Path

import anyio
import mcp_types as types
import pytest

from tests.e2e.clients import ERAS, connect, stdio_params, wait_for_tools
from tests.support.gateway_proc import fixture_upstream, write_config

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("mode", ERAS)
async def test_upstream_log_reaches_the_calling_client(tmp_path: Path, mode: str) -> None:
    cfg = write_config(tmp_path / "upstreams.yaml", {"fx": fixture_upstream()})
    got: list[types.LoggingMessageNotificationParams] = []
    arrived = anyio.Event()

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        got.append(params)
        arrived.set()

    async with connect(stdio_params(str(cfg)), mode, logging_callback=on_log, log_level="info") as client:
        await wait_for_tools(client, ["fx"])
        result = await client.call_tool("fx__log", {"message": "hello from upstream"})
        assert not result.is_error
        with anyio.fail_after(10):
            await arrived.wait()
    assert [(p.level, p.data) for p in got] == [("info", "hello from upstream")]
