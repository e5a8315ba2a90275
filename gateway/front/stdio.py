"""Serving the gateway over stdio (what IDEs spawn)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from gateway.front.server import FrontServer

__all__ = ["serve_stdio", "stdio_streams"]


def _error_line(id_: Any, code: int, message: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}) + "\n"


@asynccontextmanager
async def stdio_streams(
    max_message_bytes: int,
    stdin: Any = None,
    stdout: Any = None,
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
]:
    """Newline-delimited JSON-RPC over stdin/stdout, answering bad input itself.

    The SDK's stdio transport hands parse failures to the session, which can't reply; here malformed JSON gets
    -32700, a non-JSON-RPC object -32600 and an oversized line -32600, all with ``id: null`` unless an id could
    be read, and the connection carries on.
    """
    in_file, out_file = stdin, stdout
    if in_file is None or out_file is None:
        in_file, out_file = _claim_stdio()
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    out_lock = anyio.Lock()

    def _write(data: bytes) -> None:
        out_file.write(data)
        out_file.flush()

    async def write_raw(line: str) -> None:
        async with out_lock:
            await anyio.to_thread.run_sync(_write, line.encode())

    async def readline(limit: int) -> bytes:
        data: bytes = await anyio.to_thread.run_sync(partial(in_file.readline, limit), abandon_on_cancel=True)
        return data

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
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except ValidationError as exc:
                    await write_raw(_invalid(line, exc))
                    continue
                await read_writer.send(SessionMessage(message))

    async def writer() -> None:
        async with write_reader:
            async for msg in write_reader:
                await write_raw(msg.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n")

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(writer)
        try:
            yield read_stream, write_stream
        finally:
            tg.cancel_scope.cancel()


def _claim_stdio() -> tuple[Any, Any]:
    """Take the real stdin/stdout for the protocol; fd 0 becomes /dev/null and fd 1 goes to stderr.

    Anything else in the process that prints (a library, a stray print) then lands on stderr instead of
    corrupting the protocol stream.
    """
    wire_in = os.fdopen(os.dup(0), "rb", buffering=0)
    wire_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return _LineReader(wire_in), wire_out


class _LineReader:
    """readline(limit) over an unbuffered binary file, reading in chunks."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._buf = b""

    def readline(self, limit: int) -> bytes:
        while True:
            nl = self._buf.find(b"\n", 0, limit)
            if nl >= 0:
                line, self._buf = self._buf[: nl + 1], self._buf[nl + 1 :]
                return line
            if len(self._buf) >= limit:
                line, self._buf = self._buf[:limit], self._buf[limit:]
                return line
            chunk = self._raw.read(65536)
            if not chunk:
                line, self._buf = self._buf, b""
                return line
            self._buf += chunk


def _invalid(line: bytes, exc: ValidationError) -> str:
    try:
        obj = json.loads(line)
    except ValueError:
        return _error_line(None, types.PARSE_ERROR, "Parse error: the message is not valid JSON.")
    id_ = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str | int) else None
    return _error_line(id_, types.INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message.")


async def serve_stdio(front: FrontServer, max_message_bytes: int) -> None:
    """Serve one client on this process's stdin/stdout until stdin closes."""
    async with stdio_streams(max_message_bytes) as (read, write):
        await front.server.run(read, write, front.init_options())
