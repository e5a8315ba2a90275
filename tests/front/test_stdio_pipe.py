"""The stdin transport offers complete lines to the raw call path as they arrive, in order, and only when idle."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from gateway.front.stdio import _NonBlockingPipe

pytestmark = pytest.mark.anyio


class _Taker:
    def __init__(self, takes: set[bytes]) -> None:
        self.takes = takes
        self.taken: list[bytes] = []
        self.event = anyio.Event()

    def __call__(self, line: bytes) -> bool:
        if line not in self.takes:
            return False
        self.taken.append(line)
        self.event.set()
        return True


@asynccontextmanager
async def _reading(
    taker: _Taker, limit: int = 1000
) -> AsyncIterator[tuple[_NonBlockingPipe, int, MemoryObjectReceiveStream[bytes]]]:
    """A pipe on real OS pipes with a reader task; yields the pipe, the write end of its stdin and the lines read."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    pipe = _NonBlockingPipe(in_r, out_w)
    pipe.take_now, pipe.take_limit = taker, limit
    send, receive = anyio.create_memory_object_stream[bytes](10)

    async def reader() -> None:
        while line := await pipe.readline(100):
            await send.send(line)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()  # the reader waits for input
            yield pipe, in_w, receive
            tg.cancel_scope.cancel()
    finally:
        os.close(in_w)
        os.close(out_r)


async def _next(lines: MemoryObjectReceiveStream[bytes]) -> bytes:
    with anyio.fail_after(5):
        return await lines.receive()


async def test_taken_lines_never_reach_the_reader_and_order_is_kept() -> None:
    taker = _Taker({b"call 1\n", b"call 3\n"})
    async with _reading(taker) as (pipe, stdin, lines):
        # The first line is taken as it arrives; the second is not, so it and everything after it go to the
        # reader in order, even a line that would have been taken (call 3).
        os.write(stdin, b"call 1\nnote 2\ncall 3\n")
        assert await _next(lines) == b"note 2\n"
        assert await _next(lines) == b"call 3\n"
        assert taker.taken == [b"call 1\n"]
        await anyio.wait_all_tasks_blocked()
        taker.event = anyio.Event()
        os.write(stdin, b"call 3\n")  # the reader is idle again: taken on arrival, never read
        with anyio.fail_after(5):
            await taker.event.wait()
        os.write(stdin, b"end\n")
        assert await _next(lines) == b"end\n"
    assert taker.taken == [b"call 1\n", b"call 3\n"]


async def test_partial_and_oversized_lines_are_left_to_the_reader() -> None:
    long_line = b"x" * 20 + b"\n"
    taker = _Taker({b"call 1\n", long_line})
    async with _reading(taker, limit=10) as (pipe, _stdin, lines):
        pipe._fed(long_line)  # longer than take_limit: never offered
        assert await _next(lines) == long_line
        await anyio.wait_all_tasks_blocked()
        pipe._fed(b"cal")  # half a line waits for the rest, and the whole line then goes to the reader
        await anyio.wait_all_tasks_blocked()
        pipe._fed(b"l 1\n")
        assert await _next(lines) == b"call 1\n"
    assert taker.taken == []
