"""MCP clients for the end-to-end tests: callbacks that record what the gateway asked, and connection helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client import ClientRequestContext

from tests.support.gateway_proc import GATEWAY_BIN

__all__ = ["ERAS", "Recorder", "connect", "stdio_params", "tool_names", "wait_for_tools"]

# Every client test runs in both protocol eras: the 2025-11-25 handshake and the sessionless 2026-07-28.
ERAS = ["legacy", "2026-07-28"]


@dataclass
class Recorder:
    """Client callbacks that answer the gateway and remember what they were asked."""

    answer: str = "yes"
    elicitations: list[str] = field(default_factory=list)
    samplings: list[str] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    async def elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        self.elicitations.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": self.answer})

    async def sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        first = params.messages[0].content
        self.samplings.append(getattr(first, "text", ""))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="4"), model="fake"
        )

    async def on_message(self, message: Any) -> None:
        self.notifications.append(message)
        if isinstance(message, types.ToolListChangedNotification):
            self.changed.set()

    def list_changed_count(self) -> int:
        return sum(isinstance(n, types.ToolListChangedNotification) for n in self.notifications)


def stdio_params(config: str) -> StdioServerParameters:
    """The gateway over stdio, as an IDE would spawn it."""
    return StdioServerParameters(command=GATEWAY_BIN, args=["serve", "--config", config, "--log-level", "warning"])


@asynccontextmanager
async def connect(
    target: str | StdioServerParameters, mode: str, recorder: Recorder | None = None, **kwargs: Any
) -> AsyncIterator[Client]:
    """A Client in ``mode`` with the recorder's callbacks and no response cache."""
    rec = recorder or Recorder()
    async with Client(
        target,
        mode=mode,
        elicitation_callback=rec.elicit,
        sampling_callback=rec.sample,
        message_handler=rec.on_message,
        cache=None,
        **kwargs,
    ) as client:
        yield client


async def tool_names(client: Client) -> list[str]:
    """Every tool name, following pagination (fresh from the server)."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor, cache_mode="refresh")
        names += [t.name for t in page.tools]
        cursor = page.next_cursor
        if cursor is None:
            return names


async def wait_for_tools(client: Client, prefixes: list[str], within: float = 30.0) -> list[str]:
    """Poll tools/list until every upstream prefix has tools (upstreams start in the background)."""
    with anyio.fail_after(within):
        while True:
            names = await tool_names(client)
            if all(any(n.startswith(p + "__") for n in names) for p in prefixes):
                return names
            await anyio.sleep(0.1)
