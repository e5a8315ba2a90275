"""A stdio transport that owns its upstream's whole process tree.

The SDK's stdio client leaves an upstream's grandchildren alive when the upstream exits on its own, and merges
the gateway's environment into the child's. This transport starts each upstream in its own session (process
group) with exactly the environment it is given, drains stderr line by line into a callback (so a chatty
upstream can't block on a full pipe), skips non-JSON lines on stdout instead of failing the session, and on
exit always ends the whole group: stdin closed, a grace period, SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeGuard, cast

import anyio
import mcp_types as types
import orjson
import structlog
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

from gateway.rawrpc import RawRequests
from gateway.upstreams.stdout import RAW_MARK, StdoutLines, StdoutProtocol

__all__ = ["StdioProcess", "kill_process_group"]

log = structlog.get_logger("gateway.upstreams.process")

GRACE_SECONDS = 1.0
TERM_SECONDS = 2.0
MAX_STDERR_LINE = 4096


def kill_process_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a whole process group; False when it is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(eq=False)
class StdioProcess(AbstractAsyncContextManager[TransportStreams]):
    """``async with StdioProcess(argv, env=..., cwd=...) as (read, write)``; usable as an mcp ``Client`` transport."""

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: str | None = None
    on_stderr: Callable[[str], None] | None = None
    on_garbage: Callable[[str], None] | None = None
    on_log: Callable[[types.LoggingMessageNotificationParams], Awaitable[None]] | None = None
    """Takes the upstream's log notifications in line order, so that a log sent before a raw call's answer is
    routed while that call is still in flight (through the SDK session it could arrive after the answer)."""
    pid: int | None = None
    exited: anyio.Event = field(default_factory=anyio.Event)
    returncode: int | None = None
    raw: RawRequests | None = None
    _cm: AbstractAsyncContextManager[TransportStreams] | None = None

    async def __aenter__(self) -> TransportStreams:
        self._cm = self._run()
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        assert self._cm is not None
        return await self._cm.__aexit__(*exc)

    async def _log(self, message: types.JSONRPCNotification) -> None:
        assert self.on_log is not None
        try:
            params = types.LoggingMessageNotificationParams.model_validate(message.params, by_name=False)
        except ValueError:
            log.debug("upstream sent a malformed log notification", pid=self.pid)
            return
        try:
            await self.on_log(params)
        except Exception as exc:  # noqa: BLE001 - a log that cannot be delivered must not stop reading the upstream
            log.warning("upstream log not delivered", pid=self.pid, error=type(exc).__name__)

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[TransportStreams]:
        # asyncio's own subprocess streams (the gateway always runs on asyncio): anyio's wrappers add two loop turns
        # to every write (a cancellation checkpoint before it and a shielded one after), and tool calls write one
        # line each. stdout is taken as it arrives (``StdoutProtocol``).
        loop = asyncio.get_running_loop()
        lines = StdoutLines()
        transport, protocol = await loop.subprocess_exec(
            lambda: StdoutProtocol(lines.feed, loop),
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(self.env),
            cwd=self.cwd,
            start_new_session=True,  # pgid == pid: the whole tree can be signalled at once
        )
        process = asyncio.subprocess.Process(transport, protocol, loop)
        self.pid = process.pid
        stdin, stderr = process.stdin, process.stderr
        assert stdin is not None and stderr is not None
        # uvloop's pipe transports read like asyncio's without subclassing ReadTransport.
        lines.pipe = cast(asyncio.ReadTransport, transport.get_pipe_transport(1))
        read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

        async def send_line(data: bytes) -> None:
            try:
                stdin.write(data)
                await stdin.drain()  # suspends only while the pipe is full
            except (ConnectionResetError, BrokenPipeError, RuntimeError) as exc:
                # The pipe is gone (closed by us, or the upstream exited): what anyio's stream would raise.
                raise anyio.BrokenResourceError from exc

        raw = self.raw = RawRequests(send_line)
        lines.claim = raw.take_answer

        async def stdout_reader() -> None:
            try:
                with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    async with read_writer:
                        while (line := await lines.next()) is not None:
                            try:
                                if RAW_MARK in line and await raw.feed(orjson.loads(line)):
                                    continue
                                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                            except ValueError:
                                # An upstream printing non-protocol text is noisy, not fatal.
                                if self.on_garbage is not None:
                                    self.on_garbage(line[:MAX_STDERR_LINE].decode(errors="replace"))
                                continue
                            if self.on_log is not None and _is_log(message):
                                await self._log(message)
                                continue
                            await read_writer.send(SessionMessage(message))
                log.debug("upstream stdout closed", pid=self.pid)
            finally:
                raw.close()
                await _record_exit()

        async def stderr_reader() -> None:
            buffer = ""
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            with suppress(anyio.ClosedResourceError):
                while chunk := await stderr.read(65536):
                    lines = (buffer + decoder.decode(chunk)).split("\n")
                    buffer = lines.pop()[-MAX_STDERR_LINE:]
                    if self.on_stderr is not None:
                        for line in lines:
                            if line.strip():
                                self.on_stderr(line[:MAX_STDERR_LINE])

        async def stdin_writer() -> None:
            try:
                async with write_reader:
                    async for message in write_reader:
                        data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                        await send_line(data.encode())
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                await read_writer.aclose()

        async def _record_exit() -> None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(TERM_SECONDS):
                await process.wait()
            self.returncode = process.returncode
            self.exited.set()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(stdout_reader)
                tg.start_soon(stderr_reader)
                tg.start_soon(stdin_writer)
                try:
                    yield read_stream, write_stream
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._stop(process, lines)
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                for s in (read_stream, write_stream, read_writer, write_reader):
                    await s.aclose()

    async def _stop(self, process: asyncio.subprocess.Process, lines: StdoutLines) -> None:
        pgid = process.pid
        if process.stdin is not None:
            process.stdin.close()
        with anyio.move_on_after(GRACE_SECONDS):
            while process.returncode is None:  # noqa: ASYNC110 - a process exit has no event to wait on
                await anyio.sleep(0.02)
        # Always signal the group: the leader exiting does not take its children with it.
        if kill_process_group(pgid, signal.SIGTERM):
            with anyio.move_on_after(TERM_SECONDS):
                while _group_alive(pgid):
                    _ = process.returncode  # reaps the leader so the group can disappear
                    await anyio.sleep(0.02)
            kill_process_group(pgid, signal.SIGKILL)
        with anyio.move_on_after(TERM_SECONDS):
            await process.wait()
        self.returncode = process.returncode
        self.exited.set()
        # End the readers still waiting (a process outside the group may hold the pipes open).
        lines.feed(None)
        if process.stderr is not None:
            process.stderr.set_exception(anyio.ClosedResourceError())


def _is_log(message: types.JSONRPCMessage) -> TypeGuard[types.JSONRPCNotification]:
    return isinstance(message, types.JSONRPCNotification) and message.method == "notifications/message"
