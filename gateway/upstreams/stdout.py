"""An upstream's stdout as protocol lines, taken as the data arrives.

Answers to the gateway's raw requests are the hot path: while no line is waiting, such an answer is claimed right
in the pipe's data callback, so the call waiting for it resumes on the next loop turn, without a reader task running
first. Every other line (and every line behind one) goes through ``StdoutLines.next`` in order, so a log the
upstream sent before an answer is still handled while that call is in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from gateway.rawrpc import ID_PREFIX

__all__ = ["MAX_QUEUED_LINES", "RAW_MARK", "StdoutLines", "StdoutProtocol"]

RAW_MARK = f'"{ID_PREFIX}'.encode()  # only lines that mention a raw request id are parsed twice
MAX_QUEUED_LINES = 1024  # stdout lines waiting for the reader before the pipe is paused


class StdoutProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's subprocess protocol, with stdout handed to ``on_stdout`` as it arrives (None: end of stream)."""

    def __init__(self, on_stdout: Callable[[bytes | None], None], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self._on_stdout = on_stdout

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if fd == 1:
            assert isinstance(data, bytes)
            self._on_stdout(data)
        else:
            super().pipe_data_received(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._on_stdout(None)
        super().pipe_connection_lost(fd, exc)


class StdoutLines:
    """The upstream's stdout as lines, in order. While nothing is queued, a line that answers a raw request is
    claimed as it arrives (``claim``), so its caller resumes without the reader task running first; every other
    line, and every line behind one, waits in order for ``next``."""

    def __init__(self) -> None:
        self.claim: Callable[[Any], bool] = lambda message: False
        self.pipe: asyncio.ReadTransport | None = None  # paused while too many lines wait
        self._queued: deque[bytes] = deque()
        self._partial = b""
        self._eof = False
        self._busy = True  # the reader is handling a line (until it first waits)
        self._ready = asyncio.Event()

    def feed(self, data: bytes | None) -> None:
        if data is None:
            self._eof = True
        else:
            chunk = self._partial + data if self._partial else data
            start = 0
            if not self._queued and not self._busy:
                while (end := chunk.find(b"\n", start)) != -1 and self._claimed(chunk[start:end]):
                    start = end + 1
            if start == len(chunk):
                self._partial = b""  # every line was claimed (the everyday chunk: one answer)
            else:
                parts = chunk[start:].split(b"\n")
                self._partial = parts.pop()
                self._queued.extend(part for part in parts if part.strip())
                if len(self._queued) >= MAX_QUEUED_LINES and self.pipe is not None:
                    self.pipe.pause_reading()  # the reader catches up first
        if self._queued or self._eof:
            self._ready.set()

    def _claimed(self, line: bytes) -> bool:
        if RAW_MARK not in line:
            return False
        try:
            return self.claim(orjson.loads(line))
        except orjson.JSONDecodeError:
            return False

    async def next(self) -> bytes | None:
        """The next line; None at the end of the stream."""
        while not self._queued:
            if self._eof:
                return None
            if self.pipe is not None and not self.pipe.is_reading():
                self.pipe.resume_reading()
            self._busy = False
            self._ready.clear()
            await self._ready.wait()
        self._busy = True
        return self._queued.popleft()
