"""``CallTasks``: per-call background work as plain asyncio tasks, each under its own anyio cancel scope.

Tool calls are the gateway's hot path, and an anyio task-group spawn measured several times the cost of a plain
asyncio task (the gateway always runs on asyncio). Structure is kept by hand instead: every task is tracked with
its scope, and ``aclose`` cancels and waits for whatever is still running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import anyio

__all__ = ["CallTasks"]


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
