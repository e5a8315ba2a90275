"""An upstream's stdout lines: raw answers are claimed as they arrive while nothing waits; order is kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from gateway.upstreams.stdout import MAX_QUEUED_LINES, StdoutLines

pytestmark = pytest.mark.anyio


def _answer(n: int) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": f"mcp-gateway:{n}", "result": {}})


LOG = b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}'


class _Claims:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self, message: Any) -> bool:
        if isinstance(message, dict) and "method" not in message:
            self.ids.append(message["id"])
            return True
        return False


@asynccontextmanager
async def _reading(lines: StdoutLines) -> AsyncIterator[MemoryObjectReceiveStream[bytes | None]]:
    """A reader task that hands on every line (and None at the end); once it waits, claims happen on arrival."""
    send, receive = anyio.create_memory_object_stream[bytes | None](MAX_QUEUED_LINES + 10)

    async def reader() -> None:
        while True:
            line = await lines.next()
            await send.send(line)
            if line is None:
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        yield receive
        tg.cancel_scope.cancel()


async def _next(read: MemoryObjectReceiveStream[bytes | None]) -> bytes | None:
    with anyio.fail_after(5):
        return await read.receive()


async def test_answers_are_claimed_on_arrival_once_the_reader_waits() -> None:
    lines, claims = StdoutLines(), _Claims()
    lines.claim = claims
    lines.feed(_answer(1) + b"\n")  # the reader has not started: queued, not claimed
    assert claims.ids == []
    async with _reading(lines) as read:
        assert await _next(read) == _answer(1)
        await anyio.wait_all_tasks_blocked()  # the reader waits again
        lines.feed(_answer(2) + b"\n" + _answer(3) + b"\n")
        assert claims.ids == ["mcp-gateway:2", "mcp-gateway:3"]
        lines.feed(None)
        assert await _next(read) is None  # nothing else reached the reader


async def test_a_line_before_an_answer_keeps_the_answer_behind_it() -> None:
    lines, claims = StdoutLines(), _Claims()
    lines.claim = claims
    async with _reading(lines) as read:
        lines.feed(LOG + b"\n" + _answer(4) + b"\n")
        assert claims.ids == []  # the log comes first, so the answer waits for the reader too
        assert await _next(read) == LOG
        assert await _next(read) == _answer(4)


async def test_partial_lines_and_the_end_of_the_stream() -> None:
    lines, claims = StdoutLines(), _Claims()
    lines.claim = claims
    async with _reading(lines) as read:
        answer = _answer(5)
        lines.feed(answer[:10])
        lines.feed(answer[10:] + b"\n\n" + b"not json")
        assert claims.ids == ["mcp-gateway:5"]
        lines.feed(b"\n")
        assert await _next(read) == b"not json"
        lines.feed(None)
        assert await _next(read) is None


class _Pipe:
    def __init__(self) -> None:
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading


async def test_a_long_backlog_pauses_the_pipe_until_the_reader_catches_up() -> None:
    lines, pipe = StdoutLines(), _Pipe()
    lines.pipe = pipe  # type: ignore[assignment]
    lines.feed((LOG + b"\n") * MAX_QUEUED_LINES)
    assert not pipe.reading
    async with _reading(lines) as read:
        for _ in range(MAX_QUEUED_LINES):
            assert await _next(read) == LOG
        await anyio.wait_all_tasks_blocked()
        assert pipe.reading  # resumed once the reader had taken every line
