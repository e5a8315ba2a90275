"""``CallTasks``: per-call background work as plain asyncio tasks, each under its own anyio cancel scope.

Tool calls are the gateway's hot path, and an anyio task-group spawn measured several times the cost of a plain
asyncio task (the gateway always runs on asyncio). Structure is kept by hand instead: every task is tracked with
its scope, and ``aclose`` cancels and waits for whatever is still running.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from typing import Any

import anyio

__all__ = ["CallTasks", "cancel_scope"]

_scope_class: type[anyio.CancelScope] | None = None


def cancel_scope(deadline: float = math.inf) -> anyio.CancelScope:
    """``anyio.CancelScope(deadline=deadline)``, made without anyio's per-scope backend lookup (four Python calls
    before the scope exists; tool calls make two scopes each). The class is the one ``anyio.CancelScope()`` itself
    returns on the running backend, which for the gateway is always asyncio."""
    global _scope_class
    cls = _scope_class
    if cls is None:
        cls = _scope_class = type(anyio.CancelScope())
    return cls(deadline=deadline)


class CallTasks:
    """Tasks started with ``spawn(scope, coro)``; ``coro`` is expected to run inside ``with scope:``."""

    def __init__(self) -> None:
        self._running: dict[asyncio.Task[None], anyio.CancelScope] = {}

    def spawn(self, scope: anyio.CancelScope, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._running[task] = scope
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)

    async def aclose(self) -> None:
        """Cancel every task still running and wait for them all to finish."""
        for scope in self._running.values():
            scope.cancel()
        if self._running:
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*self._running, return_exceptions=True)
