"""Bridging the two protocol eras between a client and the upstream serving its call.

Handshake-era (legacy) clients can be asked mid-call: questions are pushed on the request's stream.
2026-07-28 (modern) clients can't: the call keeps running in the background ("parked") while its question goes
back to the client as an ``InputRequiredResult``; the client's retry carries the answers and a one-time token
that resumes the parked call. Upstream ``request_state`` therefore never reaches the client.

Most calls never ask. A front that can answer a request early (``AnswersEarly``: the stdio front) runs the call in
the request's own task and answers with the question only if one comes; the SDK's front (HTTP) must return a result
from its handler, so there the call runs in a background task from the start.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar, cast

import anyio
import anyio.abc
import mcp_types as types
import structlog
from mcp import MCPError
from mcp.server import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

from gateway._tasks import CallTasks, cancel_scope
from gateway.errors import ApprovalDeniedError
from gateway.upstreams.asker import UpstreamRequest

__all__ = [
    "ANSWERED",
    "AnswersEarly",
    "Answered",
    "Downstream",
    "DownstreamChannel",
    "LegacyAsker",
    "ParkedCalls",
    "SdkDownstream",
    "capable",
    "is_modern",
]

log = structlog.get_logger("gateway.bridge")

TOKEN_PREFIX = "mcp-gateway/resume:"  # noqa: S105 - a marker, not a secret
PARK_TTL = 600.0
R = TypeVar("R", bound=BaseModel)

_RESULT_TYPES: dict[str, Any] = {
    "elicitation/create": types.ElicitResult,
    "sampling/createMessage": types.CreateMessageResult,
    "roots/list": types.ListRootsResult,
}


def is_modern(ctx: ServerRequestContext[Any] | Downstream) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


class Downstream(Protocol):
    """The client end of one request: what the bridge and the approval step need from it.

    Two transports implement it: ``SdkDownstream`` (a request the SDK server dispatched) and the stdio front's
    raw tools/call path.
    """

    @property
    def request_id(self) -> types.RequestId | None: ...

    @property
    def protocol_version(self) -> str: ...

    def can(self, method: str) -> bool:
        """Whether the client declared the capability a server-to-client request ``method`` needs."""
        ...

    async def request(self, request: UpstreamRequest, result_type: type[R]) -> R:
        """Send a request to the client on this request's stream; its error response raises ``MCPError``."""
        ...

    async def progress(self, progress: float, total: float | None, message: str | None) -> None: ...

    async def log(self, params: types.LoggingMessageNotificationParams) -> None: ...


class AnswersEarly(Protocol):
    """A downstream that can send its request's response before the handler returns (then the handler must not).
    ``ParkedCalls.start`` looks for ``answer_now`` on the downstream it is given."""

    @property
    def scope(self) -> anyio.CancelScope:
        """Cancels the request's whole handling (the call runs inside it)."""
        ...

    async def answer_now(self, result: types.InputRequiredResult) -> None: ...


class Answered:
    """What ``ParkedCalls.start`` returns when the request was already answered with a question (``AnswersEarly``);
    the call's result goes to the retry that resumes it."""

    __slots__ = ()


ANSWERED: Final = Answered()


def capable(caps: types.ClientCapabilities | None, method: str) -> bool:
    if caps is None:
        return False
    if method == "elicitation/create":
        return caps.elicitation is not None
    if method == "sampling/createMessage":
        return caps.sampling is not None
    return caps.roots is not None


class SdkDownstream:
    """A request dispatched by the SDK server (``ctx.session`` is its back channel)."""

    def __init__(self, ctx: ServerRequestContext[Any]) -> None:
        self.ctx = ctx

    @property
    def request_id(self) -> types.RequestId | None:
        return self.ctx.request_id

    @property
    def protocol_version(self) -> str:
        return self.ctx.protocol_version

    def can(self, method: str) -> bool:
        return capable(self.ctx.session.client_capabilities, method)

    async def request(self, request: UpstreamRequest, result_type: type[R]) -> R:
        metadata = ServerMessageMetadata(related_request_id=self.ctx.request_id)
        return await self.ctx.session.send_request(request, result_type, metadata=metadata)

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self.ctx.session.report_progress(progress, total, message)

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        await self.ctx.session.send_log_message(
            level=params.level, data=params.data, logger=params.logger, related_request_id=self.ctx.request_id
        )


def _unsupported(method: str) -> types.ErrorData:
    return types.ErrorData(code=types.INVALID_REQUEST, message=f"The client does not support {method}.")


class DownstreamChannel:
    """The ``ClientChannel`` the approval step uses to ask the human."""

    def __init__(self, downstream: Downstream) -> None:
        self._ds = downstream

    @property
    def protocol_version(self) -> str:
        return self._ds.protocol_version

    @property
    def modern(self) -> bool:
        return is_modern(self._ds)

    @property
    def can_elicit(self) -> bool:
        return self._ds.can("elicitation/create")

    async def elicit_form(self, message: str, schema: dict[str, Any]) -> types.ElicitResult:
        request = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))
        return await self._ds.request(request, types.ElicitResult)


class _ProgressAndLog:
    ds: Downstream

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self.ds.progress(progress, total, message)

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        await self.ds.log(params)


class LegacyAsker(_ProgressAndLog):
    """Asks a handshake-era client directly, on the originating request's stream."""

    def __init__(self, downstream: Downstream) -> None:
        self.ds = downstream

    async def ask(self, requests: dict[str, UpstreamRequest]) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for key, request in requests.items():
            if not self.ds.can(request.method):
                answers[key] = _unsupported(request.method)
                continue
            try:
                answers[key] = await self.ds.request(request, _RESULT_TYPES[request.method])
            except MCPError as exc:
                answers[key] = exc.error
        return answers


@dataclass(eq=False)
class _Question:
    requests: dict[str, UpstreamRequest]
    answered: anyio.Event = field(default_factory=anyio.Event)
    answers: dict[str, Any] | None = None


class _Mailbox:
    """What the background work tells the waiting request: a question, or ("done", result). One reader."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._ready = asyncio.Event()  # one per 2026-07-28 call: a plain event costs a fraction of anyio's

    def put(self, item: Any) -> None:
        self._items.append(item)
        self._ready.set()

    async def get(self) -> Any:
        while not self._items:
            await self._ready.wait()
            self._ready.clear()
        return self._items.popleft()


@dataclass(eq=False)
class ParkedCall(_ProgressAndLog):
    """A call whose upstream work goes on while the client answers questions."""

    ds: Downstream
    binding: tuple[str, ...]
    owner: ParkedCalls
    scope: anyio.CancelScope  # cancels the work
    mailbox: _Mailbox = field(default_factory=lambda: _Mailbox())
    question: _Question | None = None
    answer_now: Callable[[types.InputRequiredResult], Awaitable[None]] | None = None
    """Set while the work runs in its request's own task and that request is still unanswered."""

    async def ask(self, requests: dict[str, UpstreamRequest]) -> dict[str, Any]:
        allowed = {k: r for k, r in requests.items() if self.ds.can(r.method)}
        answers: dict[str, Any] = {k: _unsupported(r.method) for k, r in requests.items() if k not in allowed}
        if allowed:
            q = _Question(allowed)
            self.question = q
            if self.answer_now is not None:
                # The first question of a call run in its request's task: answer that request with it here. The
                # work goes on in this task; from now on the retry that resumes it waits for what comes next.
                await self.answer_now(self.owner.park(self, q))
                self.answer_now = None
            else:
                self.mailbox.put(q)
            with anyio.move_on_after(PARK_TTL):
                await q.answered.wait()
            got = q.answers or {}
            for key in allowed:
                answers[key] = got.get(
                    key, types.ErrorData(code=types.INVALID_REQUEST, message="The client did not answer.")
                )
        return answers


class ParkedCalls:
    """Runs modern clients' calls so that questions can be returned and answered on retry."""

    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg
        self._parked: dict[str, ParkedCall] = {}
        self._running = CallTasks()

    async def aclose(self) -> None:
        """Stop every call still working in the background (the gateway is shutting down)."""
        await self._running.aclose()

    @staticmethod
    def is_resume(request_state: str | None) -> bool:
        return bool(request_state and request_state.startswith(TOKEN_PREFIX))

    async def start(
        self,
        ds: Downstream,
        binding: tuple[str, ...],
        work: Callable[[ParkedCall], Awaitable[types.CallToolResult | types.InputRequiredResult]],
    ) -> types.CallToolResult | types.InputRequiredResult | Answered:
        """Run a modern client's call. ``ANSWERED``: the request was answered with a question (``AnswersEarly``)."""
        if hasattr(ds, "answer_now"):
            early = cast(AnswersEarly, ds)
            return await self._run_here(ParkedCall(ds=ds, binding=binding, owner=self, scope=early.scope), early, work)
        call = ParkedCall(ds=ds, binding=binding, owner=self, scope=cancel_scope())

        async def runner() -> None:
            result: Any = None
            with call.scope:
                try:
                    result = await work(call)
                except Exception as exc:  # noqa: BLE001 - handed to the waiting handler, which translates it
                    result = exc
            call.mailbox.put(("done", result))

        self._running.spawn(call.scope, runner())  # every such call starts one: see gateway._tasks
        return await self._next(call)

    async def _run_here(
        self,
        call: ParkedCall,
        ds: AnswersEarly,
        work: Callable[[ParkedCall], Awaitable[types.CallToolResult | types.InputRequiredResult]],
    ) -> types.CallToolResult | types.InputRequiredResult | Answered:
        """Run ``work`` in this (the request's) task: no background task for the everyday call that asks nothing.
        After a question has answered the request, what the work ends with goes to the resuming retry; the retry's
        cancellation or the park expiring cancel the request's scope (``call.scope``), and with it the work."""
        call.answer_now = ds.answer_now
        result: Any
        try:
            result = await work(call)
        except Exception as exc:  # after a question: handed to the retry, which translates it
            if call.answer_now is not None:
                raise
            result = exc
        if call.answer_now is not None:  # never asked: this request gets the result
            assert isinstance(result, types.CallToolResult | types.InputRequiredResult)
            return result
        call.mailbox.put(("done", result))
        return ANSWERED

    async def resume(
        self, ds: Downstream, token: str, binding: tuple[str, ...], answers: dict[str, Any] | None
    ) -> types.CallToolResult | types.InputRequiredResult:
        call = self._parked.pop(token, None)
        if call is None or call.binding != binding or call.question is None:
            raise ApprovalDeniedError(
                "This request_state is unknown, expired or was already used; call the tool again."
            )
        call.ds = ds
        q = call.question
        call.question = None
        q.answers = dict(answers or {})
        q.answered.set()
        return await self._next(call)

    async def _next(self, call: ParkedCall) -> types.CallToolResult | types.InputRequiredResult:
        try:
            item = await call.mailbox.get()
        except BaseException:
            # The client went away (cancelled): stop the upstream work too.
            call.scope.cancel()
            raise
        if isinstance(item, _Question):
            return self.park(call, item)
        _tag, result = item
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, types.CallToolResult | types.InputRequiredResult)
        return result

    def park(self, call: ParkedCall, question: _Question) -> types.InputRequiredResult:
        """Keep ``call`` for the retry answering ``question``; the question as the client sees it."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        self._parked[token] = call
        self._tg.start_soon(self._expire, token)
        return types.InputRequiredResult(input_requests=dict(question.requests), request_state=token)

    async def _expire(self, token: str) -> None:
        await anyio.sleep(PARK_TTL)
        call = self._parked.pop(token, None)
        if call is not None:
            log.info("parked call expired without an answer")
            call.scope.cancel()
