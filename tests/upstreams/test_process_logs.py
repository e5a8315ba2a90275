"""An upstream's log notifications are taken in line order with the raw answers on the same pipe."""

from __future__ import annotations

import os
import sys

import mcp_types as types
import pytest

from gateway.upstreams.process import StdioProcess

pytestmark = pytest.mark.anyio

# Answers one request with a log line and then the answer, in one write (one chunk for the reader).
UPSTREAM = r"""
import json, sys
request = json.loads(sys.stdin.readline())
log = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "before the answer"}}
answer = {"jsonrpc": "2.0", "id": request["id"], "result": {"ok": True}}
sys.stdout.write(json.dumps(log) + "\n" + json.dumps(answer) + "\n")
sys.stdout.flush()
sys.stdin.readline()
"""


async def test_a_log_before_the_answer_is_delivered_before_the_call_returns() -> None:
    seen: list[tuple[object, bool]] = []
    answered = False

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        seen.append((params.data, answered))

    proc = StdioProcess(argv=[sys.executable, "-c", UPSTREAM], env=dict(os.environ), on_log=on_log)
    async with proc:
        assert proc.raw is not None
        result = await proc.raw.request("tools/call", {"name": "x"})
        answered = True
    assert result == {"ok": True}
    assert seen == [("before the answer", False)]
