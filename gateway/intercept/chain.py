"""``Step`` and ``compose``: the onion the interception chain is made of (MCP SDK / starlette shape)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import mcp_types as types

from gateway.intercept.call import ToolCall

__all__ = ["CallNext", "CallResult", "Step", "compose"]

CallResult = types.CallToolResult | types.InputRequiredResult

CallNext = Callable[[ToolCall], Awaitable[CallResult]]
"""Runs the rest of the chain, and finally the upstream, with the given call."""


class Step(Protocol):
    """One interceptor: ``(call, call_next) -> result``.

    Pass: ``return await call_next(call)``. Rewrite: ``await call_next(replace(call, ...))``.
    Refuse: raise a ``RefusedError`` subclass (never fabricate an upstream result).
    Ask: return an ``InputRequiredResult`` (2026-07-28 clients) and let the client retry.
    """

    async def __call__(self, call: ToolCall, call_next: CallNext) -> CallResult: ...


def compose(steps: Sequence[Step], forward: CallNext) -> CallNext:
    """Fold ``steps`` around ``forward``; the first step is outermost."""
    chain = forward
    for step in reversed(steps):
        chain = _bind(step, chain)
    return chain


def _bind(step: Step, call_next: CallNext) -> CallNext:
    async def run(call: ToolCall) -> CallResult:
        return await step(call, call_next)

    return run
