"""Serving the gateway over stdio (what IDEs spawn)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from gateway.front.server import FrontServer
from gateway.front.stdio_calls import StdioCalls

__all__ = ["serve_stdio", "stdio_streams"]


_PAUSE_AT = 4 * 1024 * 1024  # bytes of unread input before the read transport pauses


def _error_line(id_: Any, code: int, message: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}) + "\n"


@asynccontextmanager
async def stdio_streams(
    max_message_bytes: int,
    stdin: Any = None,
    stdout: Any = None,
    calls: StdioCalls | None = None,
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
]:
    """Newline-delimited JSON-RPC over stdin/stdout, answering bad input itself.

    The SDK's stdio transport hands parse failures to the session, which can't reply; here malformed JSON gets
    -32700, a non-JSON-RPC object -32600 and an oversized line -32600, all with ``id: null`` unless an id could
    be read, and the connection carries on. ``calls``, when given, takes the tools/calls it can run itself.
    """
    pipe: _Pipe = _ThreadedPipe(stdin, stdout) if stdin is not None and stdout is not None else _claim_stdio()
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    # fast_acquire: an uncontended write must not yield to the loop first (every response waits on it).
    out_lock = anyio.Lock(fast_acquire=True)

    async def write_raw(line: str | bytes) -> None:
        async with out_lock:
            await pipe.write(line.encode() if isinstance(line, str) else line)

    if calls is not None and isinstance(pipe, _NonBlockingPipe):
        pipe.take_now, pipe.take_limit = calls.offer_now, max_message_bytes
    readline = pipe.readline

    async def reader() -> None:
        async with read_writer:
            while True:
                line = await readline(max_message_bytes + 2)
                if not line:
                    return
                if len(line) > max_message_bytes and not line.endswith(b"\n"):
                    # Discard the rest of the oversized line without buffering it.
                    while True:
                        more = await readline(65536)
                        if not more or more.endswith(b"\n"):
                            break
                    await write_raw(
                        _error_line(None, types.INVALID_REQUEST, f"Message larger than {max_message_bytes} bytes.")
                    )
                    continue
                if not line.strip():
                    continue
                if calls is not None and await calls.offer(line):
                    continue
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except ValidationError:
                    await write_raw(_invalid(line))
                    continue
                await read_writer.send(SessionMessage(message))

    async def writer() -> None:
        async with write_reader:
            async for msg in write_reader:
                if calls is not None:
                    calls.sent(msg.message)
                await write_raw(msg.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n")

    async with anyio.create_task_group() as tg:
        if calls is not None:
            calls.bind(write_raw)
        tg.start_soon(reader)
        tg.start_soon(writer)
        try:
            yield read_stream, write_stream
        finally:
            tg.cancel_scope.cancel()
            if calls is not None:
                await calls.aclose()


class _Pipe:
    """Line-oriented reading and writing of the protocol's byte streams."""

    async def readline(self, limit: int) -> bytes:
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        raise NotImplementedError


class _LineBuffer:
    def __init__(self) -> None:
        self.buf = b""
        self.eof = False

    def take(self, limit: int) -> bytes | None:
        """A line (or ``limit`` bytes of one) if available; b"" at EOF; None when more input is needed."""
        nl = self.buf.find(b"\n", 0, limit)
        if nl >= 0:
            line, self.buf = self.buf[: nl + 1], self.buf[nl + 1 :]
            return line
        if len(self.buf) >= limit:
            line, self.buf = self.buf[:limit], self.buf[limit:]
            return line
        if self.eof:
            line, self.buf = self.buf, b""
            return line
        return None


class _NonBlockingPipe(_Pipe):
    """Pipes and sockets without threads: input through an asyncio read transport (registered with the event
    loop once, not per message), output with non-blocking writes that wait only when the pipe is full."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        self._in, self._out = fd_in, fd_out
        os.set_blocking(fd_out, False)
        self._lines = _LineBuffer()
        self._transport: asyncio.ReadTransport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.take_now: Callable[[bytes], bool] | None = None
        """Offered each complete line as it arrives while the reader is idle; True: taken (never read)."""
        self.take_limit = 0
        self._line_start = True  # the reader's last line was complete (not the head of an oversized one)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.connect_read_pipe(lambda: _Feed(self), os.fdopen(self._in, "rb", buffering=0))

    def _fed(self, data: bytes | None) -> None:
        if data is None:
            self._lines.eof = True
        else:
            if self.take_now is not None and self._waiter is not None and self._line_start and not self._lines.buf:
                data = self._take_now(data, self.take_now)
            self._lines.buf += data
            if len(self._lines.buf) > _PAUSE_AT and self._transport is not None:
                self._transport.pause_reading()  # the reader catches up before more is buffered
        if self._waiter is not None and not self._waiter.done() and (self._lines.buf or self._lines.eof):
            self._waiter.set_result(None)  # (nothing to wake the reader for when every line was taken)

    def _take_now(self, data: bytes, take: Callable[[bytes], bool]) -> bytes:
        """Offer the complete lines at the start of ``data`` to ``take`` (a tool call starts without waking the
        reader first); the rest, from the first line not taken, is left for the reader, in order."""
        start = 0
        while (end := data.find(b"\n", start)) != -1 and end - start < self.take_limit and take(data[start : end + 1]):
            start = end + 1
        return data[start:] if start else data

    async def readline(self, limit: int) -> bytes:
        if self._transport is None:
            await self._start()
        while True:
            line = self._lines.take(limit)
            if line is not None:
                self._line_start = line.endswith(b"\n")
                return line
            assert self._transport is not None
            self._transport.resume_reading()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = os.write(self._out, view)
            except BlockingIOError:
                await anyio.wait_writable(self._out)
                continue
            view = view[sent:]


class _Feed(asyncio.Protocol):
    def __init__(self, pipe: _NonBlockingPipe) -> None:
        self._pipe = pipe

    def data_received(self, data: bytes) -> None:
        self._pipe._fed(data)

    def eof_received(self) -> bool:
        self._pipe._fed(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._pipe._fed(None)


class _ThreadedPipe(_Pipe):
    """Any file objects (terminals, regular files, tests): blocking calls in worker threads."""

    def __init__(self, in_file: Any, out_file: Any) -> None:
        self._in, self._out = in_file, out_file
        self._lines = _LineBuffer()

    def _read(self) -> bytes:
        read = getattr(self._in, "read1", None) or self._in.read
        data: bytes = read(65536)
        return data

    async def readline(self, limit: int) -> bytes:
        while True:
            line = self._lines.take(limit)
            if line is not None:
                return line
            chunk = await anyio.to_thread.run_sync(self._read, abandon_on_cancel=True)
            if not chunk:
                self._lines.eof = True
            self._lines.buf += chunk

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()

    async def write(self, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._write, data)


def _claim_stdio() -> _Pipe:
    """Take the real stdin/stdout for the protocol; fd 0 becomes /dev/null and fd 1 goes to stderr.

    Anything else in the process that prints (a library, a stray print) then lands on stderr instead of
    corrupting the protocol stream.
    """
    wire_in, wire_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    if _is_pipe(wire_in) and _is_pipe(wire_out):
        return _NonBlockingPipe(wire_in, wire_out)
    # Terminals share their open file description with the shell: never make those non-blocking.
    return _ThreadedPipe(os.fdopen(wire_in, "rb", buffering=0), os.fdopen(wire_out, "wb"))


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _invalid(line: bytes) -> str:
    try:
        obj = json.loads(line)
    except ValueError:
        return _error_line(None, types.PARSE_ERROR, "Parse error: the message is not valid JSON.")
    id_ = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str | int) else None
    return _error_line(id_, types.INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message.")


async def serve_stdio(front: FrontServer, max_message_bytes: int) -> None:
    """Serve one client on this process's stdin/stdout until stdin closes."""
    calls = StdioCalls(front) if front.gw.identify is None else None
    async with stdio_streams(max_message_bytes, calls=calls) as (read, write):
        await front.server.run(read, write, front.init_options())
