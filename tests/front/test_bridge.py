"""Parked calls: how a 2026-07-28 client answers an upstream's question by retrying (no back channel)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import anyio
import mcp_types as types
import pytest

from gateway.errors import ApprovalDeniedError
from gateway.front.bridge import ANSWERED, ParkedCall, ParkedCalls, SdkDownstream

pytestmark = pytest.mark.anyio

QUESTION = types.ElicitRequest(
    params=types.ElicitRequestFormParams(
        message="Name?", requested_schema={"type": "object", "properties": {"name": {"type": "string"}}}
    )
)


def _ctx(elicit: bool = True) -> Any:
    caps = types.ClientCapabilities(elicitation=types.ElicitationCapability() if elicit else None)
    return SdkDownstream(
        SimpleNamespace(protocol_version="2026-07-28", session=SimpleNamespace(client_capabilities=caps))  # type: ignore[arg-type]
    )


async def _asking_work(call: ParkedCall) -> types.CallToolResult:
    answers = await call.ask({"q": QUESTION})
    answer = answers["q"]
    text = f"error:{answer.code}" if isinstance(answer, types.ErrorData) else f"hello {answer['content']['name']}"
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


async def test_question_then_resume_with_the_answer() -> None:
    """The first round returns the question with a one-time token; the retry's answer reaches the parked work."""
    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        binding = ("session", "alice", "fx__ask")
        first = await parked.start(_ctx(), binding, _asking_work)
        assert isinstance(first, types.InputRequiredResult)
        assert list(first.input_requests or {}) == ["q"]
        token = first.request_state
        assert token is not None and parked.is_resume(token)
        done = await parked.resume(_ctx(), token, binding, {"q": {"action": "accept", "content": {"name": "bob"}}})
        assert isinstance(done, types.CallToolResult)
        assert [c.text for c in done.content if isinstance(c, types.TextContent)] == ["hello bob"]
        with pytest.raises(ApprovalDeniedError):  # single use
            await parked.resume(_ctx(), token, binding, {"q": {"action": "accept", "content": {"name": "eve"}}})
        tg.cancel_scope.cancel()


async def test_resume_is_bound_to_session_identity_and_tool() -> None:
    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        first = await parked.start(_ctx(), ("s1", "alice", "fx__ask"), _asking_work)
        assert isinstance(first, types.InputRequiredResult) and first.request_state is not None
        with pytest.raises(ApprovalDeniedError):
            await parked.resume(_ctx(), first.request_state, ("s2", "mallory", "fx__ask"), {"q": {}})
        with pytest.raises(ApprovalDeniedError):
            await parked.resume(_ctx(), "mcp-gateway/resume:forged", ("s1", "alice", "fx__ask"), {"q": {}})
        tg.cancel_scope.cancel()


async def test_a_client_that_cannot_answer_gets_an_error_not_a_question() -> None:
    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        done = await parked.start(_ctx(elicit=False), ("s", "u", "fx__ask"), _asking_work)
        assert isinstance(done, types.CallToolResult)
        assert [c.text for c in done.content if isinstance(c, types.TextContent)] == [f"error:{types.INVALID_REQUEST}"]
        tg.cancel_scope.cancel()


async def test_a_failing_call_raises_in_the_waiting_handler() -> None:
    async def boom(call: ParkedCall) -> types.CallToolResult:
        raise ApprovalDeniedError("nope")

    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        with pytest.raises(ApprovalDeniedError, match="nope"):
            await parked.start(_ctx(), ("s", "u", "t"), boom)
        tg.cancel_scope.cancel()


class _EarlyDownstream:
    """A downstream that can answer its request before the handler returns (like the stdio front's)."""

    def __init__(self) -> None:
        self.inner = _ctx()
        self.protocol_version = "2026-07-28"
        self.request_id = 1
        self.answers: list[types.InputRequiredResult] = []
        self.answered = anyio.Event()
        self.scope = anyio.CancelScope()

    def can(self, method: str) -> bool:
        return self.inner.can(method)

    async def answer_now(self, result: types.InputRequiredResult) -> None:
        self.answers.append(result)
        self.answered.set()


async def test_a_call_that_asks_nothing_runs_in_the_requests_own_task() -> None:
    tasks: list[object] = []

    async def work(call: ParkedCall) -> types.CallToolResult:
        tasks.append(asyncio.current_task())
        return types.CallToolResult(content=[types.TextContent(type="text", text="done")])

    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        ds = _EarlyDownstream()
        result = await parked.start(ds, ("s", "u", "fx__echo"), work)  # type: ignore[arg-type]
        assert isinstance(result, types.CallToolResult) and tasks == [asyncio.current_task()]
        assert ds.answers == []
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("fails", [False, True])
async def test_an_early_answered_question_hands_the_outcome_to_the_retry(fails: bool) -> None:
    """The question answers the request itself; the work goes on, and its result or error reaches the retry."""

    async def work(call: ParkedCall) -> types.CallToolResult:
        result = await _asking_work(call)
        if fails:
            raise ApprovalDeniedError("refused after the answer")
        return result

    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        ds = _EarlyDownstream()
        binding = ("s", "u", "fx__ask")
        started: list[object] = []
        returned = anyio.Event()

        async def request() -> None:
            started.append(await parked.start(ds, binding, work))  # type: ignore[arg-type]
            returned.set()

        tg.start_soon(request)
        with anyio.fail_after(5):
            await ds.answered.wait()
        [question] = ds.answers
        assert list(question.input_requests or {}) == ["q"] and parked.is_resume(question.request_state)
        assert question.request_state is not None
        answer = {"q": {"action": "accept", "content": {"name": "bob"}}}
        if fails:
            with pytest.raises(ApprovalDeniedError, match="refused after the answer"):
                await parked.resume(_ctx(), question.request_state, binding, answer)
        else:
            done = await parked.resume(_ctx(), question.request_state, binding, answer)
            assert isinstance(done, types.CallToolResult)
            assert [c.text for c in done.content if isinstance(c, types.TextContent)] == ["hello bob"]
        with anyio.fail_after(5):
            await returned.wait()
        assert started == [ANSWERED]
        tg.cancel_scope.cancel()


async def test_cancelling_the_retry_cancels_an_early_answered_call() -> None:
    """After its question, the call still runs in the first request's scope: the retry's cancellation reaches it."""
    async with anyio.create_task_group() as tg:
        parked = ParkedCalls(tg)
        ds = _EarlyDownstream()
        binding = ("s", "u", "fx__ask")
        gone = anyio.Event()

        async def held_work(call: ParkedCall) -> types.CallToolResult:
            await call.ask({"q": QUESTION})
            try:
                await anyio.sleep_forever()
            finally:
                gone.set()
            raise AssertionError("unreachable")

        async def request() -> None:
            with ds.scope:
                await parked.start(ds, binding, held_work)  # type: ignore[arg-type]

        tg.start_soon(request)
        with anyio.fail_after(5):
            await ds.answered.wait()
        token = ds.answers[0].request_state
        assert token is not None
        with anyio.move_on_after(0.2) as retry:  # the retry waits for the held work until its client gives up
            await parked.resume(_ctx(), token, binding, {"q": {"action": "accept", "content": {"name": "x"}}})
        assert retry.cancelled_caught
        with anyio.fail_after(5):
            await gone.wait()
        assert ds.scope.cancel_called
        tg.cancel_scope.cancel()
