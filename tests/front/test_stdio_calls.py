"""Which stdio messages the raw tools/call path takes, and which it leaves to the SDK server."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import mcp_types as types
import orjson
import pytest

from gateway.front.stdio_calls import StdioCalls

pytestmark = pytest.mark.anyio

INIT = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "ide", "version": "1"},
        },
    }
)
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
MODERN_META = {
    types.PROTOCOL_VERSION_META_KEY: "2026-07-28",
    types.CLIENT_INFO_META_KEY: {"name": "agent", "version": "2"},
    types.CLIENT_CAPABILITIES_META_KEY: {},
}


def _call(id_: int, params: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params})


class _Out:
    """What the raw path wrote to the client, with a wait for the n-th line."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self._more = anyio.Event()

    async def write(self, line: bytes) -> None:
        self.lines.append(line)
        self._more.set()
        self._more = anyio.Event()

    async def wait(self, n: int) -> None:
        with anyio.fail_after(5):
            while len(self.lines) < n:
                await self._more.wait()


class _Front:
    """Just enough of FrontServer: sessions and a handle_call that can be held open."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, types.CallToolRequestParams]] = []
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.hold = False
        self.server = SimpleNamespace(server_info_stamp={"name": "mcp-gateway", "version": "t"})

        async def get_stdio(version: str, info: Any, pusher: Any = None) -> Any:
            return SimpleNamespace(id="s", version=version, info=info)

        self.sessions = SimpleNamespace(get_stdio=get_stdio)

    async def handle_call(self, ds: Any, session: Any, params: types.CallToolRequestParams, meta: Any) -> Any:
        self.calls.append((ds, params))
        self.started.set()
        if self.hold:
            await self.release.wait()
        return types.CallToolResult(content=[types.TextContent(type="text", text=params.name)])


async def _settled_legacy(calls: StdioCalls) -> None:
    assert await calls.offer(INIT) is False  # the SDK answers initialize
    calls.sent(types.JSONRPCResponse(jsonrpc="2.0", id=0, result={"protocolVersion": "2025-11-25"}))
    assert await calls.offer(INITIALIZED) is False  # ... and sees initialized


async def test_legacy_calls_are_taken_only_after_initialized() -> None:
    front = _Front()
    calls = StdioCalls(front)  # type: ignore[arg-type]
    out = _Out()
    calls.bind(out.write)
    assert await calls.offer(INIT) is False
    assert await calls.offer(_call(1, {"name": "echo"})) is False  # not initialized yet: the SDK refuses it
    calls.sent(types.JSONRPCResponse(jsonrpc="2.0", id=0, result={"protocolVersion": "2025-11-25"}))
    assert await calls.offer(INITIALIZED) is False
    assert await calls.offer(_call(2, {"name": "echo", "arguments": {"a": 1}})) is True
    await out.wait(1)
    content = [{"type": "text", "text": "echo"}]
    assert orjson.loads(out.lines[0]) == {"jsonrpc": "2.0", "id": 2, "result": {"content": content, "isError": False}}
    ds, params = front.calls[0]
    assert ds.protocol_version == "2025-11-25" and ds.can("elicitation/create") and not ds.can("sampling/createMessage")
    assert params.arguments == {"a": 1}
    await calls.aclose()


async def test_bad_or_foreign_requests_are_left_to_the_sdk() -> None:
    calls = StdioCalls(_Front())  # type: ignore[arg-type]
    calls.bind(_Out().write)
    await _settled_legacy(calls)
    assert await calls.offer(_call(3, {"name": 5})) is False  # invalid params: the SDK's exact error
    assert await calls.offer(_call(4, {"name": "echo", "_meta": MODERN_META})) is False  # wrong era
    assert await calls.offer(b'{"jsonrpc":"2.0","id":5,"method":"tools/list"}') is False
    assert await calls.offer(b"not json") is False
    assert await calls.offer(b'{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"x"},') is False


async def test_modern_connection_and_cancellation() -> None:
    front = _Front()
    front.hold = True
    calls = StdioCalls(front)  # type: ignore[arg-type]
    out = _Out()
    calls.bind(out.write)
    opening = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}})
    assert await calls.offer(opening) is False  # the SDK decides the era from the opening request
    assert await calls.offer(_call(2, {"name": "slow", "_meta": MODERN_META})) is True
    with anyio.fail_after(5):
        await front.started.wait()
    cancel = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}'
    assert await calls.offer(cancel) is True
    assert await calls.offer(_call(3, {"name": "fast", "_meta": MODERN_META})) is True
    front.release.set()
    await out.wait(1)
    await calls.aclose()
    assert len(out.lines) == 1, "a cancelled request gets no response"
    answer = orjson.loads(out.lines[0])
    assert answer["id"] == 3 and answer["result"]["resultType"] == "complete"
    assert answer["result"]["_meta"][types.SERVER_INFO_META_KEY] == {"name": "mcp-gateway", "version": "t"}


async def test_a_checked_envelope_is_not_trusted_once_it_changes() -> None:
    """2026-07-28 calls skip the era's schema pass only for an envelope equal to one that passed it."""
    front = _Front()
    calls = StdioCalls(front)  # type: ignore[arg-type]
    out = _Out()
    calls.bind(out.write)
    opening = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}})
    assert await calls.offer(opening) is False
    with_token = {**MODERN_META, "progressToken": "p-2"}
    assert await calls.offer(_call(2, {"name": "echo", "arguments": {}, "_meta": with_token})) is True
    assert await calls.offer(_call(3, {"name": "echo", "_meta": {**MODERN_META, "progressToken": 3}})) is True
    bad_caps = {**MODERN_META, types.CLIENT_CAPABILITIES_META_KEY: {"elicitation": 5}}
    assert await calls.offer(_call(4, {"name": "echo", "_meta": bad_caps})) is False  # the SDK's exact error
    assert await calls.offer(_call(5, {"name": "echo", "_meta": {**MODERN_META, "progressToken": 1.5}})) is False
    await out.wait(2)
    await calls.aclose()
    assert sorted(orjson.loads(line)["id"] for line in out.lines) == [2, 3]


async def test_answers_to_gateway_questions_are_claimed() -> None:
    calls = StdioCalls(_Front())  # type: ignore[arg-type]
    sent = _Out()
    calls.bind(sent.write)
    await _settled_legacy(calls)
    async with anyio.create_task_group() as tg:
        answers: list[Any] = []

        async def ask() -> None:
            answers.append(await calls.questions.request("elicitation/create", {"message": "ok?"}))

        tg.start_soon(ask)
        await sent.wait(1)
        question = orjson.loads(sent.lines[0])
        reply = orjson.dumps({"jsonrpc": "2.0", "id": question["id"], "result": {"action": "accept"}})
        assert await calls.offer(reply) is True
    assert answers == [{"action": "accept"}]
    assert await calls.offer(b'{"jsonrpc":"2.0","id":7,"result":{}}') is False  # the SDK's own numbering


async def test_a_call_answered_early_goes_on_and_frees_its_id() -> None:
    """A 2026-07-28 call answered with a question keeps running in its task; a late cancel for the answered id
    does not reach it, the id can be reused, and the call writes no second response."""
    from gateway.front.bridge import ANSWERED

    front = _Front()
    went_on = anyio.Event()
    finish = anyio.Event()
    question = types.InputRequiredResult(input_requests={}, request_state="mcp-gateway/resume:t")

    async def handle_call(ds: Any, session: Any, params: types.CallToolRequestParams, meta: Any) -> Any:
        if params.name != "asks":
            return types.CallToolResult(content=[types.TextContent(type="text", text=params.name)])
        await ds.answer_now(question)
        await finish.wait()
        went_on.set()
        return ANSWERED

    front.handle_call = handle_call  # type: ignore[method-assign]
    calls = StdioCalls(front)  # type: ignore[arg-type]
    out = _Out()
    calls.bind(out.write)
    opening = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}})
    assert await calls.offer(opening) is False
    assert await calls.offer(_call(2, {"name": "asks", "_meta": MODERN_META})) is True
    await out.wait(1)
    first = orjson.loads(out.lines[0])
    assert first["id"] == 2 and first["result"]["resultType"] == "input_required"
    assert first["result"]["requestState"] == "mcp-gateway/resume:t"
    cancel = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}'
    assert await calls.offer(cancel) is False  # answered already: not in flight here (the SDK ignores it)
    assert await calls.offer(_call(2, {"name": "echo", "_meta": MODERN_META})) is True  # the id is free again
    await out.wait(2)
    assert orjson.loads(out.lines[1])["result"]["content"] == [{"type": "text", "text": "echo"}]
    finish.set()
    with anyio.fail_after(5):
        await went_on.wait()
    await calls.aclose()
    assert len(out.lines) == 2, out.lines


async def test_offer_now_starts_only_well_formed_calls_on_a_settled_connection() -> None:
    front = _Front()
    calls = StdioCalls(front)  # type: ignore[arg-type]
    out = _Out()
    calls.bind(out.write)
    assert calls.offer_now(_call(1, {"name": "echo"})) is False  # not settled: offer (and the SDK) decide
    await _settled_legacy(calls)
    assert calls.offer_now(b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}') is False
    assert calls.offer_now(b'{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}') is False  # no id
    assert calls.offer_now(b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":"x"}') is False
    assert calls.offer_now(_call(4, {"name": 5})) is False  # invalid params: the SDK's exact error
    assert calls.offer_now(b'{"jsonrpc":"2.0","id":5,"method":"tools/call",') is False
    assert calls.offer_now(_call(6, {"name": "echo", "arguments": {"a": 1}})) is True
    await out.wait(1)
    assert orjson.loads(out.lines[0])["id"] == 6
    assert [params.arguments for _ds, params in front.calls] == [{"a": 1}]
    await calls.aclose()
