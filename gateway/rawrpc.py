"""Raw JSON-RPC requests to a peer on a line-delimited pipe, beside the SDK session that shares it.

Tool calls are the gateway's hot path. Sending them through an SDK session costs a model round trip, memory
streams and a task per message; here a request is one dict written as a line, and its answer is picked out of
the incoming lines before the SDK sees them. Used in both directions on stdio: tools/call to an upstream, and
the gateway's own questions (elicitation, sampling, roots) to a client whose tools/call it runs itself.

The two never collide: these requests use string ids with a prefix the SDK never produces (it numbers its own
requests), and their progress tokens are those same ids. Everything else on the pipe still goes through the SDK.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
import orjson
from mcp import MCPError
from mcp.shared.dispatcher import ProgressFnT

__all__ = ["ID_PREFIX", "RawRequests", "line"]

ID_PREFIX = "mcp-gateway:"


@dataclass(eq=False, slots=True)
class _Pending:
    on_progress: ProgressFnT | None
    done: asyncio.Future[None]  # a bare future, made for every call (an Event would wrap one per wait)
    response: Mapping[str, Any] | None = None

    def finish(self, response: Mapping[str, Any] | None) -> None:
        self.response = response
        if not self.done.done():  # (cancelled when its caller was)
            self.done.set_result(None)


class RawRequests:
    """Requests written straight to the peer; ``feed`` claims their answers (and progress) from its lines."""

    def __init__(self, send_line: Callable[[bytes], Awaitable[None]]) -> None:
        self._send_line = send_line
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._closed = False

    async def request(
        self, method: str, params: Mapping[str, Any], *, on_progress: ProgressFnT | None = None
    ) -> dict[str, Any]:
        """Send one request and wait for its result; an error response raises ``MCPError`` with its error.

        Cancelling the caller (a timeout, a cancel from upstream of it) tells the peer with ``notifications/cancelled``.
        """
        if self._closed:
            raise MCPError(code=types.CONNECTION_CLOSED, message="Connection closed")
        request_id = f"{ID_PREFIX}{next(self._ids)}"
        if on_progress is not None:
            meta = dict(params.get("_meta") or {})
            meta["progressToken"] = request_id
            params = {**params, "_meta": meta}
        pending = _Pending(on_progress, asyncio.get_running_loop().create_future())
        self._pending[request_id] = pending
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            await self._send_line(line(message))
            await pending.done
        except BaseException:
            if self._pending.pop(request_id, None) is not None and not self._closed:
                await self._cancel(request_id)
            raise
        response = pending.response
        if response is None:
            raise MCPError(code=types.CONNECTION_CLOSED, message="Connection closed")
        if "error" in response:
            raise MCPError.from_error_data(types.ErrorData.model_validate(response["error"]))
        result = response.get("result")
        if not isinstance(result, dict):
            raise MCPError(code=types.INTERNAL_ERROR, message="The upstream sent a malformed result.")
        return result

    async def _cancel(self, request_id: str) -> None:
        note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            try:
                await self._send_line(line(note))
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the peer is gone: nothing left to cancel

    def take_answer(self, message: Any) -> bool:
        """Take a parsed line from the peer if it answers one of these requests (its caller resumes)."""
        if not isinstance(message, dict):
            return False
        request_id = message.get("id")
        if isinstance(request_id, str) and request_id.startswith(ID_PREFIX) and "method" not in message:
            pending = self._pending.pop(request_id, None)
            if pending is not None:
                pending.finish(message)
            return True
        return False

    async def feed(self, message: Any) -> bool:
        """Take a parsed line from the peer if it answers or reports on one of these requests."""
        if not isinstance(message, dict):
            return False
        if self.take_answer(message):
            return True
        if message.get("method") == "notifications/progress":
            params = message.get("params")
            token = params.get("progressToken") if isinstance(params, dict) else None
            if isinstance(token, str) and token.startswith(ID_PREFIX):
                waiting = self._pending.get(token)
                if waiting is not None and waiting.on_progress is not None:
                    assert isinstance(params, dict)
                    await waiting.on_progress(params.get("progress", 0), params.get("total"), params.get("message"))
                return True
        return False

    def close(self) -> None:
        """The pipe is gone: every waiting request ends with a connection-closed error."""
        self._closed = True
        for pending in self._pending.values():
            pending.finish(None)
        self._pending.clear()


def line(message: Mapping[str, Any]) -> bytes:
    """One JSON-RPC message as a protocol line."""
    return orjson.dumps(message) + b"\n"
