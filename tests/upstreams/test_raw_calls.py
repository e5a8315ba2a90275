"""Tool calls to a real stdio upstream go out as raw JSON-RPC beside the SDK session, in both eras."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from gateway.config.models import StdioUpstream
from gateway.errors import UpstreamTimeoutError
from gateway.upstreams.asker import NoAsker
from gateway.upstreams.connection import UpstreamConnection

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).with_name("fixture_server.py")


async def _noop(conn: UpstreamConnection) -> None:
    return None


@asynccontextmanager
async def _connected(tmp_path: Path, protocol: str, **spec: Any) -> AsyncIterator[UpstreamConnection]:
    record = tmp_path / "record.jsonl"
    upstream = StdioUpstream.model_validate(
        {
            "command": sys.executable,
            "args": [str(FIXTURE)],
            "protocol": protocol,
            "env": {"FIXTURE_RECORD": str(record)},
            **spec,
        }
    )
    conn = UpstreamConnection("fx", upstream, cwd=tmp_path, on_change=_noop)
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.run)
        with anyio.fail_after(30):
            await conn.wait_settled()
        assert conn.is_ready, conn.error
        try:
            yield conn
        finally:
            conn.stop()


class _Progress(NoAsker):
    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))


def _recorded(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "record.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("protocol", ["legacy", "2026-07-28"])
async def test_pinned_era_lists_and_calls(tmp_path: Path, protocol: str) -> None:
    """A pinned 2026-07-28 upstream skips discovery: its lists are still fetched. Calls carry the era's envelope."""
    async with _connected(tmp_path, protocol) as conn:
        assert "echo" in [t.name for t in conn.catalogue.tools]
        assert conn.catalogue.prompts and conn.catalogue.resources
        result = await conn.call_tool("echo", {"text": "raw"}, asker=NoAsker(), meta={"traceparent": "00-x"})
        assert result.structured_content == {"text": "raw"}
        assert isinstance(result.content[0], types.TextContent) and result.content[0].text == "raw"
        progress = _Progress()
        counted = await conn.call_tool("count", {"n": 3}, asker=progress)
        assert isinstance(counted.content[0], types.TextContent) and counted.content[0].text == "counted to 3"
        assert progress.seen == [(1, 3, "1/3"), (2, 3, "2/3"), (3, 3, "3/3")]
    echo = [r for r in _recorded(tmp_path) if r.get("tool") == "echo"][0]
    assert echo["meta"]["traceparent"] == "00-x"
    if protocol == "2026-07-28":
        assert echo["meta"][types.PROTOCOL_VERSION_META_KEY] == "2026-07-28"


async def test_timeout_cancels_the_raw_request_upstream(tmp_path: Path) -> None:
    """A call that outlives call_timeout ends with a clear error and the upstream is told to stop."""
    async with _connected(tmp_path, "legacy", call_timeout=0.5) as conn:
        with pytest.raises(UpstreamTimeoutError):
            await conn.call_tool("hang", {}, asker=NoAsker())
        with anyio.fail_after(10):
            # The upstream's record file is written by another process: polled, with a deadline.
            while not any(r.get("event") == "cancelled" for r in _recorded(tmp_path)):  # noqa: ASYNC110
                await anyio.sleep(0.05)
        assert (await conn.call_tool("echo", {"text": "after"}, asker=NoAsker())).structured_content == {
            "text": "after"
        }
        assert conn._proc is not None and conn._proc.raw is not None
        assert not conn._proc.raw._pending, "the cancelled request is forgotten"


class _Logs(NoAsker):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.seen.append(params.data)


@pytest.mark.parametrize("protocol", ["legacy", "2026-07-28"])
async def test_a_log_sent_before_the_answer_reaches_its_call(tmp_path: Path, protocol: str) -> None:
    """The upstream logs, then answers: the log is routed while the call is still in flight, every time (it is
    read in line order with the raw answer, not through the SDK session, which could deliver it after)."""
    async with _connected(tmp_path, protocol) as conn:
        for i in range(30):
            logs = _Logs()
            result = await conn.call_tool("log", {"message": f"log {i}"}, asker=logs)
            assert not result.is_error
            assert logs.seen == [f"log {i}"], i
