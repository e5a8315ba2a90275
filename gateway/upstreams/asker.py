"""How an upstream reaches back to the client whose call it is serving (elicitation, sampling, roots, logs)."""

from __future__ import annotations

from typing import Any, Protocol

import mcp_types as types

__all__ = ["Asker", "NoAsker", "UpstreamRequest"]

UpstreamRequest = types.ElicitRequest | types.CreateMessageRequest | types.ListRootsRequest


class Asker(Protocol):
    """The downstream side of one in-flight call."""

    async def ask(self, requests: dict[str, UpstreamRequest]) -> dict[str, Any]:
        """Ask the client; returns one result (or ErrorData) per key. Era bridging happens behind this."""
        ...

    async def progress(self, progress: float, total: float | None, message: str | None) -> None: ...

    async def log(self, params: types.LoggingMessageNotificationParams) -> None: ...


class NoAsker:
    """For calls with no client behind them (``upstreams check``, tests): every question is refused."""

    async def ask(self, requests: dict[str, UpstreamRequest]) -> dict[str, Any]:
        return {
            key: types.ErrorData(code=types.INVALID_REQUEST, message="No client is available to answer this request.")
            for key in requests
        }

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        return None

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        return None
